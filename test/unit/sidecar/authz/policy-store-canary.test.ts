/**
 * Readiness knows whether the engine decides (issue 22 item 1, security.md 39): the live set's
 * canaries (a request it allows, one it denies, found when it loads) are decided straight in the
 * engine at start, after each reload, after an engine trap and periodically; a wrong answer makes
 * the store unhealthy with one error line saying why, and a trap is recovered from.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  compilePolicySetInTurns,
  parsePolicyFile,
  type CompiledPolicySet,
} from '../../../../src/policy/cedar-adapter.js';
import { createReadiness } from '../../../../src/sidecar/admin/readiness.js';
import { waitFor } from '../../../helpers/net.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';
import { captureLogger } from '../../../helpers/tokens.js';

const closers: (() => void)[] = [];
after(() => closers.forEach((c) => c()));

describe('the engine canaries', () => {
  it('find one allow and one deny of the shipped set, and pass at start', async () => {
    const { logger } = captureLogger();
    const store = await policyStoreOver(shippedPolicies, { logger });
    closers.push(() => store.close());
    const health = store.engineHealth?.();
    assert.equal(health?.ok, true, JSON.stringify(health));
    assert.match(health?.detail ?? '', /^ok \(2 canaries, start\)/);
  });

  it('fail when the engine answers otherwise: not healthy, one error line, /readyz 503', async () => {
    const { logger, lines } = captureLogger();
    let broken = false;
    // The engine as it would be if it had silently stopped deciding: every answer a bare deny.
    const compile: typeof compilePolicySetInTurns = async (...args) => {
      const real = await compilePolicySetInTurns(...args);
      const wrapped: CompiledPolicySet = {
        callShape: real.callShape,
        authorize: (r) =>
          broken ? { allowed: false, policies: [], notices: [], errors: [] } : real.authorize(r),
      };
      return wrapped;
    };
    const store = await policyStoreOver(shippedPolicies, { logger, compile, canaryEveryMs: 20 });
    closers.push(() => store.close());
    const readiness = createReadiness({
      policyVersion: () => store.current().version,
      pingBackend: () => Promise.resolve(),
      draining: () => false,
      engine: store.engineHealth,
    });
    assert.equal((await readiness()).ready, true);
    broken = true;
    await waitFor(() => store.engineHealth?.().ok === false, 5000, 'the canary to fail');
    const r = await readiness();
    assert.equal(r.ready, false);
    assert.match(r.checks['engine'] ?? '', /^not deciding: canary users:\w+ expected allow/);
    await new Promise((resolve) => setTimeout(resolve, 100)); // several more periodic checks
    const errors = lines()
      .split('\n')
      .filter((l) => l.includes('does not decide the live set correctly'));
    assert.equal(errors.length, 1, lines());
    broken = false;
    await waitFor(() => store.engineHealth?.().ok === true, 5000, 'the canary to pass again');
    assert.equal((await readiness()).ready, true);
  });

  it('are checked after an engine trap, which the live set survives', async () => {
    const { logger, lines } = captureLogger();
    const store = await policyStoreOver(shippedPolicies, { logger });
    closers.push(() => store.close());
    const deep = `permit (principal, action, resource) when { ${'('.repeat(2000)}true${')'.repeat(2000)} };`;
    assert.throws(() => parsePolicyFile(deep), /engine/);
    assert.match(lines(), /policy engine instance replaced/);
    const health = store.engineHealth?.();
    assert.equal(health?.ok, true, JSON.stringify(health));
    assert.match(health?.detail ?? '', /engine error/);
  });
});
