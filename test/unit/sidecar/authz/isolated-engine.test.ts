/**
 * The isolated engine (issue 22 items 1 and 6): a job runs in a worker with its own Cedar and a
 * time limit; past it the worker is ended and the job fails with IsolatedEngineError (the
 * playground answers 503 with it), and the next job gets a fresh worker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readPolicySources } from '../../../../src/policy/policy-files.js';
import {
  createEngineWorker,
  IsolatedEngineError,
  runIsolated,
} from '../../../../src/sidecar/authz/isolated-engine.js';
import { shippedPolicies } from '../../../helpers/process.js';

describe('runIsolated and createEngineWorker', () => {
  it('answer a job from a worker: the shipped set validates', async () => {
    const sources = await readPolicySources(shippedPolicies);
    const r = await runIsolated(
      { kind: 'validate', dir: 'p', sources },
      { timeoutMs: 60_000, maxMemoryMb: 256 },
    );
    assert.ok(r.ok && r.kind === 'validate', JSON.stringify(r));
  });

  it('end a job past its time limit with IsolatedEngineError; the next job gets a fresh worker', async () => {
    const sources = await readPolicySources(shippedPolicies);
    const engine = createEngineWorker({ timeoutMs: 1, maxMemoryMb: 256 });
    try {
      await assert.rejects(
        engine.run({ kind: 'load', dir: 'p', sources }),
        (err: unknown) =>
          err instanceof IsolatedEngineError && /longer than 1 ms/.test(err.message),
      );
    } finally {
      await engine.close();
    }
    const roomy = createEngineWorker({ timeoutMs: 60_000, maxMemoryMb: 256 });
    try {
      const r = await roomy.run({ kind: 'load', dir: 'p', sources });
      assert.ok(r.ok && r.kind === 'load');
      assert.deepEqual(
        r.loaded.canaries.map((c) => c.allowed),
        [true, false],
      );
      const again = await roomy.run({ kind: 'validate', dir: 'p', sources });
      assert.ok(again.ok);
    } finally {
      await roomy.close();
    }
  });
});
