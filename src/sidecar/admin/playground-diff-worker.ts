/**
 * The playground's `policy diff`, in a worker thread: it may decide millions of requests, which
 * on the sidecar's own thread would stall every proxied request for as long. The worker has its
 * own Cedar instance, so its preparsed sets never touch the live store's slots.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DiffTooLargeError, diffPolicySets } from '../../policy/authoring/diff.js';
import { buildPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { DiffJob, DiffResult } from './playground.js';

/** Builds both sets and diffs them; a set that does not build answers its problems. */
export function runDiffJob(job: DiffJob): DiffResult {
  try {
    const base = buildPolicySet('live', job.base);
    const candidate = buildPolicySet('edited', job.candidate);
    return { ok: true, report: diffPolicySets(base, candidate, { maxRequests: job.maxRequests }) };
  } catch (err) {
    if (err instanceof PolicyLoadError) return { ok: false, problems: err.problems };
    // Sets too large to compare: the page says so, as `policy diff` does (nothing was decided).
    if (err instanceof DiffTooLargeError) {
      return { ok: false, problems: [{ file: '', line: 0, column: 0, message: err.message }] };
    }
    throw err;
  }
}

if (parentPort !== null && workerData !== null && workerData !== undefined) {
  parentPort.postMessage(runDiffJob(workerData as DiffJob));
}
