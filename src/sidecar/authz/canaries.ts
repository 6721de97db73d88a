/**
 * Whether the live engine still decides: canaries (a request the set allows and one it denies,
 * found at load) are decided again at start, after each reload, after any engine trap and
 * periodically; /readyz reads the outcome.
 */
import type { StoreState } from './store-state.js';

/**
 * Decides the live set's canaries straight in the engine (never from the cache): the engine
 * decides iff each gets the answer it got when the set loaded. A change of outcome is logged
 * once, an error line saying why when it fails; /readyz reads {@link StoreState.health}.
 */
export function checkCanaries(state: StoreState, when: string): void {
  const { live } = state;
  let failure: string | null = null;
  for (const canary of live.canaries) {
    const d = live.compiled.authorize(canary.request);
    const policies = [...d.policies].sort().join(',');
    if (d.allowed !== canary.allowed || policies !== [...canary.policies].sort().join(',')) {
      const expected = `${canary.allowed ? 'allow' : 'deny'} by [${canary.policies.join(', ')}]`;
      const got = `${d.allowed ? 'allow' : 'deny'} by [${d.policies.join(', ')}]${d.errors.length > 0 ? ` (${d.errors.join('; ')})` : ''}`;
      failure = `canary ${canary.request.action} expected ${expected}, the engine answered ${got}`;
      break;
    }
  }
  const health =
    failure === null
      ? { ok: true, detail: `ok (${live.canaries.length} canaries, ${when})` }
      : { ok: false, detail: `not deciding: ${failure}` };
  if (!health.ok && state.health.ok) {
    state.logger.error(
      { when, version: live.snapshot.version },
      `the policy engine does not decide the live set correctly (${when}): ${failure}`,
    );
  } else if (health.ok && !state.health.ok) {
    state.logger.info({ when }, 'the policy engine decides the live set correctly again');
  }
  state.health = health;
}
