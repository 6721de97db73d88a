/**
 * What `policy check` and `policy diff --invariants` share: the `--users` flag, reading the
 * invariants file, and checking it against a loaded set, with bad input as one line, exit 2.
 */
import { readFile } from 'node:fs/promises';
import {
  checkInvariants,
  CheckRefusedError,
  DEFAULT_USERS,
  MAX_USERS,
} from '../../policy/authoring/invariants/check.js';
import type { CheckReport } from '../../policy/authoring/invariants/check.js';
import { compareInvariants } from '../../policy/authoring/invariants/compare.js';
import type { InvariantsDiff, TimedCheck } from '../../policy/authoring/invariants/compare.js';
import { InvariantFileError, parseInvariants } from '../../policy/authoring/invariants/language.js';
import type { InvariantSpec } from '../../policy/authoring/invariants/language.js';
import type { Decide } from '../../policy/authoring/invariants/decisions.js';
import { compileLoadedSet } from '../../policy/policy-set.js';
import type { LoadedPolicySet } from '../../policy/policy-set.js';
import { InputError, type FlagSpec } from '../usage.js';

/** The `--users N` flag, the same in both commands. */
export const usersFlag = {
  type: 'string',
  value: 'N',
  help: `users of the explored tenant, the owner counted (default ${DEFAULT_USERS}, at most ${MAX_USERS})`,
} as const satisfies FlagSpec;

/** `--users` as a number; a value out of range is `fail`ed (a wrong command line). */
export function usersOf(value: string | undefined, fail: (message: string) => never): number {
  const users = value === undefined ? DEFAULT_USERS : Number(value);
  if (!Number.isInteger(users) || users < 1 || users > MAX_USERS) {
    fail(`--users must be a whole number from 1 to ${MAX_USERS}, not "${value}"`);
  }
  return users;
}

/** The invariants file's text; one that cannot be read is bad input. */
export async function readInvariants(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** The invariants of `text` read against `set`'s roles; one that does not read is bad input. */
export function parseFor(file: string, text: string, set: LoadedPolicySet): InvariantSpec {
  try {
    return parseInvariants(file, text, set.schema.roles);
  } catch (err) {
    if (!(err instanceof InvariantFileError)) throw err;
    throw new InputError(err.message);
  }
}

/** `spec` checked on `set` with `decide`; a schema the states cannot model is bad input. */
export function checkTimed(
  set: LoadedPolicySet,
  spec: InvariantSpec,
  users: number,
  decide: Decide,
): TimedCheck {
  const started = performance.now();
  let report: CheckReport;
  try {
    report = checkInvariants(set, spec, decide, { users });
  } catch (err) {
    if (err instanceof InvariantFileError || err instanceof CheckRefusedError) {
      throw new InputError(err.message);
    }
    throw err;
  }
  return { report, ms: performance.now() - started };
}

/** `set` decided by its compiled form, as the sidecar's store decides it. */
export function compiledDecide(slot: string, set: LoadedPolicySet): Decide {
  const compiled = compileLoadedSet(slot, set);
  return (r) => compiled.authorize(r);
}

/** What `policy diff --invariants FILE [--users N]` asks for. */
export interface DiffInvariantsRequest {
  file: string;
  users: number;
}

/** The two sides of a diff as the invariants see them: each set and the name it is shown by. */
interface DiffSide {
  set: LoadedPolicySet;
  name: string;
}

/**
 * Both sides' checks of `request`'s invariants, compared. The file is read against each side's
 * schema before anything is explored; one that does not read against one side only (a role the
 * other side lacks) says which.
 */
export async function diffInvariants(
  request: DiffInvariantsRequest,
  base: DiffSide,
  candidate: DiffSide,
): Promise<() => InvariantsDiff> {
  const text = await readInvariants(request.file);
  const read = (side: DiffSide): InvariantSpec | InputError => {
    try {
      return parseFor(request.file, text, side.set);
    } catch (err) {
      if (err instanceof InputError) return err;
      throw err;
    }
  };
  const specs = [read(base), read(candidate)] as const;
  const [b, c] = specs;
  if (b instanceof InputError || c instanceof InputError) {
    if (b instanceof InputError && c instanceof InputError && b.message === c.message) throw b;
    const [err, which] =
      b instanceof InputError
        ? [b, `the base, ${base.name}`]
        : [c as InputError, `the candidate, ${candidate.name}`];
    throw new InputError(`${err.message} (reading it against ${which})`);
  }
  return () =>
    compareInvariants(
      checkTimed(
        base.set,
        b,
        request.users,
        compiledDecide(`policy-diff-base-${process.pid}`, base.set),
      ),
      checkTimed(
        candidate.set,
        c,
        request.users,
        compiledDecide(`policy-diff-candidate-${process.pid}`, candidate.set),
      ),
    );
}
