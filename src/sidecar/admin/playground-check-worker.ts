/**
 * The playground's `policy check`, in a worker thread (playground-jobs.ts): every state a tenant
 * can reach by requests the edited copy allows, and whether the invariants (the YAML of
 * `policy check --invariants`) hold in all of them. Exploring thousands of states on the
 * sidecar's own thread would stall the requests it serves; here it has its own Cedar too.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  checkInvariants,
  CheckRefusedError,
  type CheckReport,
} from '../../policy/authoring/invariants/check.js';
import { InvariantFileError, parseInvariants } from '../../policy/authoring/invariants/language.js';
import { renderCheck, renderCounterexample } from '../../policy/authoring/invariants/render.js';
import type { PolicySources } from '../../policy/policy-files.js';
import {
  buildPolicySet,
  compileLoadedSet,
  PolicyLoadError,
  type PolicyProblem,
} from '../../policy/policy-set.js';

/** What the check worker is sent. */
export interface CheckJob {
  sources: PolicySources;
  /** The name problems and the report give the invariants (`invariants.yaml`). */
  invariantsFile: string;
  invariants: string;
  /** Users of the explored tenant, the owner counted. */
  users: number;
}

/** The answer: the CLI's `--json` report and text, or why nothing was checked. */
export type CheckResult =
  | {
      ok: true;
      /** What `policy check --json` prints. */
      report: CheckReport & { ms: number };
      /** What `policy check` prints. */
      text: string;
      /** Each broken invariant's counterexample, as the CLI prints it (by invariant id). */
      counterexamples: Record<string, string[]>;
    }
  | { ok: false; problems: PolicyProblem[] };

/** Builds the edited copy, reads the invariants against its roles, and checks them. */
export function runCheckJob(job: CheckJob): CheckResult {
  try {
    const set = buildPolicySet('', job.sources);
    const spec = parseInvariants(job.invariantsFile, job.invariants, set.schema.roles);
    const compiled = compileLoadedSet('playground-check', set);
    const started = performance.now();
    const report = checkInvariants(set, spec, (r) => compiled.authorize(r), { users: job.users });
    const ms = performance.now() - started;
    const counterexamples: Record<string, string[]> = {};
    for (const inv of report.invariants)
      if (inv.counterexample !== null)
        counterexamples[inv.id] = renderCounterexample(inv.counterexample);
    return {
      ok: true,
      report: { ...report, ms: Math.round(ms) },
      text: renderCheck(report, ms),
      counterexamples,
    };
  } catch (err) {
    return { ok: false, problems: problemsOf(err) };
  }
}

/** A set that does not load, invariants that do not read, a schema the states cannot model. */
function problemsOf(err: unknown): PolicyProblem[] {
  if (err instanceof PolicyLoadError) return err.problems;
  if (err instanceof InvariantFileError) {
    const prefix = `${err.file}:${err.line}: `;
    const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return [{ file: err.file, line: err.line, column: 1, message }];
  }
  if (err instanceof CheckRefusedError)
    return [{ file: '', line: 0, column: 0, message: err.message }];
  throw err;
}

if (parentPort !== null && workerData !== null && workerData !== undefined) {
  parentPort.postMessage(runCheckJob(workerData as CheckJob));
}
