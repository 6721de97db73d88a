/**
 * `cedargate policy check [DIR] --invariants FILE.yaml [--users N] [--json]`: every state a tenant
 * of N users can reach by requests the set allows, and whether the invariants hold in all of them
 * (docs/policies.md, "Invariants"). Exit 0 every invariant holds, 1 a counterexample for some,
 * 2 bad input (a wrong command line, an invariants file that does not read — file:line —, a
 * set that does not load, a schema the states cannot model).
 */
import { readFile } from 'node:fs/promises';
import {
  checkInvariants,
  CheckRefusedError,
  DEFAULT_USERS,
  MAX_USERS,
} from '../../policy/authoring/invariants/check.js';
import type { CheckReport } from '../../policy/authoring/invariants/check.js';
import { InvariantFileError, parseInvariants } from '../../policy/authoring/invariants/language.js';
import { renderCheck } from '../../policy/authoring/invariants/render.js';
import { InputError, parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { DECIDER_HELP, deciderLine, deciderReportOf, out } from './output.js';
import { openSet, policyTargetOf } from './target.js';

export const usage = {
  line: 'cedargate policy check [DIR] --invariants FILE.yaml [--users N] [--json]',
  flags: {
    invariants: {
      type: 'string',
      value: 'FILE.yaml',
      help: "the invariants to check (policies/invariants.yaml is the shipped set's)",
    },
    users: {
      type: 'string',
      value: 'N',
      help: `users of the explored tenant, the owner counted (default ${DEFAULT_USERS}, at most ${MAX_USERS})`,
    },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  description: DECIDER_HELP,
} satisfies CommandUsage;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const fail = (message: string): never => {
    throw new UsageError(`${message}\nusage: ${usage.line}`);
  };
  const file = values.invariants ?? fail('--invariants FILE.yaml is required');
  const users = values.users === undefined ? DEFAULT_USERS : Number(values.users);
  if (!Number.isInteger(users) || users < 1 || users > MAX_USERS) {
    fail(`--users must be a whole number from 1 to ${MAX_USERS}, not "${values.users}"`);
  }
  const target = await policyTargetOf(positionals, usage.line);
  const opened = await openSet(target);
  if (opened === null) {
    out(`the policies do not load; no invariant was checked`);
    return 2;
  }
  const started = performance.now();
  const report = checkFile(file, await readInvariants(file), opened, users);
  const ms = performance.now() - started;
  const decider = deciderReportOf(opened.compiled);
  out(
    values.json === true
      ? JSON.stringify({ ...report, ms: Math.round(ms), decider }, null, 2)
      : `${renderCheck(report, ms)}${deciderLine(decider, opened.compiled.stats)}`,
  );
  return report.invariants.every((i) => i.holds) ? 0 : 1;
}

async function readInvariants(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function checkFile(
  file: string,
  text: string,
  { set, compiled }: NonNullable<Awaited<ReturnType<typeof openSet>>>,
  users: number,
): CheckReport {
  try {
    const spec = parseInvariants(file, text, set.schema.roles);
    return checkInvariants(set, spec, (r) => compiled.authorize(r), { users });
  } catch (err) {
    if (err instanceof InvariantFileError || err instanceof CheckRefusedError) {
      throw new InputError(err.message);
    }
    throw err;
  }
}
