/**
 * The bench's rows for issue 25 item 4: decisions at 3, 12 and 20 roles by each engine, and
 * `policy diff` timed by named roles, stopped at its timeout rather than waited for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureDiffTimings, renderDiffTimings } from '../../../bench/diff-timings.js';
import { benchDecisionsByRoles } from '../../../bench/micro-roles.js';
import type { CompileDecider } from '../../../src/sidecar/authz/policy-store.js';

describe('decisions by role count', () => {
  it('measures cedar-wasm and a compiled decider side by side at 3, 12 and 20 roles', async () => {
    let compiledCalls = 0;
    // A stand-in compiler (C1's lives in src/policy/compiled/): the rows must name who decided.
    const compileDecider: CompileDecider = () => ({
      decider: {
        decide: () => {
          compiledCalls++;
          return { allowed: true, policies: ['x'], notices: [], errors: [] };
        },
      },
    });
    const rows = await benchDecisionsByRoles({ decisions: 20, compileDecider, log: () => {} });
    assert.deepEqual(
      rows.map((r) => r.name),
      [3, 12, 20].flatMap((n) => [
        `decision, uncached, wasm, ${n} roles`,
        `decision, uncached, compiled, ${n} roles`,
      ]),
    );
    assert.ok(rows.every((r) => r.iterations === 20 && r.p50Us > 0));
    assert.equal(compiledCalls, 3 * 40, 'every compiled row decided in the compiled decider');
    // Without one, the compiled rows use the store's own compiler; the wasm rows stay on Cedar
    // (each row is named by the engine that really decided).
    const byDefault = await benchDecisionsByRoles({
      decisions: 5,
      compileDecider: undefined,
      log: () => {},
    });
    assert.deepEqual(
      byDefault.map((r) => r.name),
      rows.map((r) => r.name),
    );
  });
});

describe('policy diff timings', () => {
  it('stops a diff at its timeout and says so', async () => {
    const [t] = await measureDiffTimings({ roles: [12], timeoutSeconds: 0.2, log: () => {} });
    assert.deepEqual(t, { namedRoles: 12, seconds: 0.2, finished: false, exitCode: null });
    assert.match(renderDiffTimings([t]), /\| 12 \| over 0\.2 s \(stopped\) \| - \|/);
  });
});
