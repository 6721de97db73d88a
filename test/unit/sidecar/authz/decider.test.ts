/**
 * The store's decider (decider.ts): a compiled decider decides when the set compiles, a set it
 * refuses stays on cedar-wasm with one log line naming why, and cedar-wasm cross-checks a
 * sample of the compiled answers off the request path. A deliberately wrong compiled decider is
 * caught: the error line with both answers, the disagreement metric, the switch to cedar-wasm
 * (cached compiled answers dropped) and /status's `policies.decider` all show it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { AuthzRequest, PrincipalFacts } from '../../../../src/policy/types.js';
import {
  type CompileDecider,
  type PolicyStore,
  type PolicyStoreOptions,
} from '../../../../src/sidecar/authz/policy-store.js';
import { createSidecarMetrics } from '../../../../src/sidecar/metrics.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';
import { captureLogger } from '../../../helpers/tokens.js';

const stores: PolicyStore[] = [];
after(() => stores.forEach((s) => s.close()));

async function openStore(options: Partial<PolicyStoreOptions>): Promise<PolicyStore> {
  const store = await policyStoreOver(shippedPolicies, { canaryEveryMs: 0, ...options });
  stores.push(store);
  return store;
}

const person = (id: string, tenantId: string, roles: string[]): PrincipalFacts => ({
  id,
  tenantId,
  roles,
  isOwner: false,
});
// An admin of globex reading a user of acme: every shipped set denies it.
const crossTenant: AuthzRequest = {
  principal: person('gary', 'globex', ['admin']),
  action: 'users:read',
  resource: { type: 'User', ...person('uma', 'acme', ['user']) },
  context: {},
};

/** A compiled decider that allows everything: wrong on purpose. */
const allowEverything: CompileDecider = () => ({
  decider: {
    decide: () => ({ allowed: true, policies: ['not-a-policy'], notices: [], errors: [] }),
  },
});

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the decider of the live set', () => {
  it('the shipped set is decided by the compiled decider by default, and /status says so', async () => {
    const store = await openStore({});
    assert.equal(store.decide(crossTenant).allowed, false);
    const { decider } = store.status();
    assert.equal(decider.engine, 'compiled');
    assert.equal(decider.reason, null);
    assert.deepEqual(decider.crosscheck, { rate: 0.001, checked: 0, disagreements: 0 });
  });

  it('a set the compiler refuses stays on cedar-wasm, with one log line naming the construct', async () => {
    const { logger, lines } = captureLogger();
    const store = await openStore({
      logger,
      compileDecider: () => ({ unsupported: '`like` at policies/x.cedar:3:7' }),
    });
    assert.equal(store.decide(crossTenant).allowed, false);
    assert.equal(store.status().decider.engine, 'wasm');
    assert.equal(store.status().decider.reason, '`like` at policies/x.cedar:3:7');
    const said = lines()
      .split('\n')
      .filter((l) => l.includes('decisions by cedar-wasm'));
    assert.equal(said.length, 1);
    assert.match(said[0] ?? '', /`like` at policies\/x\.cedar:3:7/);
  });

  it('a compiler that throws leaves the set on cedar-wasm, and the log line says why', async () => {
    const { logger, lines } = captureLogger();
    const store = await openStore({
      logger,
      compileDecider: () => {
        throw new Error('boom');
      },
    });
    assert.equal(store.decide(crossTenant).allowed, false);
    assert.deepEqual(
      [store.status().decider.engine, store.status().decider.reason],
      ['wasm', 'the compiler failed: boom'],
    );
    assert.match(lines(), /decisions by cedar-wasm: the compiler failed: boom/);
  });

  it('compiles through compileLoadedSet: the loader ESTs, the live preparsed set as fallback', async () => {
    const wasm = await openStore({
      compileDecider: () => ({ unsupported: 'asked for cedar-wasm' }),
    });
    const seen: { trees: string[]; fallback: boolean }[] = [];
    const store = await openStore({
      compileDecider: (set, fallback, trees) => {
        seen.push({
          trees: Object.keys(trees ?? {}).sort(),
          fallback: fallback(crossTenant).allowed,
        });
        return { decider: { decide: fallback } };
      },
      crosscheckRate: 0,
      decisionCacheMax: 0,
    });
    assert.deepEqual(seen, [{ trees: store.current().policyIds.slice().sort(), fallback: false }]);
    const { cached: _a, ...truth } = wasm.decide(crossTenant);
    const { cached: _b, ...answer } = store.decide(crossTenant);
    assert.deepEqual(answer, truth);
    assert.equal(store.status().decider.engine, 'compiled');
  });

  it('a compiled decider that agrees with cedar-wasm keeps deciding; every check is counted', async () => {
    const wasm = await openStore({});
    const truth = wasm.decide(crossTenant);
    let calls = 0;
    const store = await openStore({
      compileDecider: () => ({
        decider: {
          decide: () => {
            calls++;
            const { cached: _cached, ...answer } = truth;
            return { ...answer, policies: [...answer.policies], errors: [...answer.errors] };
          },
        },
      }),
      crosscheckRate: 1,
      decisionCacheMax: 0,
    });
    for (let i = 0; i < 3; i++) assert.equal(store.decide(crossTenant).allowed, false);
    assert.equal(calls, 3, 'the compiled decider answered');
    await turn();
    assert.equal(store.status().decider.engine, 'compiled');
    assert.equal(store.status().decider.reason, null);
    assert.deepEqual(store.crosschecks?.(), { checked: 3, disagreements: 0 });
  });

  it('DECISION_CROSSCHECK_RATE 0 checks nothing', async () => {
    const store = await openStore({ compileDecider: allowEverything, crosscheckRate: 0 });
    assert.equal(store.decide(crossTenant).allowed, true, 'the (wrong) compiled decider decided');
    await turn();
    assert.equal(store.status().decider.engine, 'compiled');
    assert.deepEqual(store.crosschecks?.(), { checked: 0, disagreements: 0 });
  });

  it('catches a wrong compiled decider: error line, metric, switch to cedar-wasm, /status', async () => {
    const { logger, lines } = captureLogger();
    const store = await openStore({ logger, compileDecider: allowEverything, crosscheckRate: 1 });
    const metrics = createSidecarMetrics();
    metrics.watchCrosschecks(() => store.crosschecks?.() ?? { checked: 0, disagreements: 0 });

    // The answer is not delayed for the check: the wrong one goes out (and is cached) ...
    const first = store.decide(crossTenant);
    assert.equal(first.allowed, true);
    assert.equal(store.status().decider.engine, 'compiled', 'judged on a later turn, not inline');
    await turn();

    // ... and once cedar-wasm has judged it, the compiled path is off for this set.
    const { decider } = store.status();
    assert.equal(decider.engine, 'wasm');
    assert.match(
      decider.reason ?? '',
      /cross-check disagreement on users:read: compiled allow by \[not-a-policy\], cedar-wasm deny/,
    );
    assert.deepEqual(decider.crosscheck, { rate: 1, checked: 1, disagreements: 1 });
    const again = store.decide(crossTenant);
    assert.equal(again.allowed, false, 'the cached compiled answer was dropped');
    assert.equal(again.cached, false);

    const errorLines = lines()
      .split('\n')
      .filter((l) => l.includes('cross-check disagreement'));
    assert.equal(errorLines.length, 1);
    const logged = JSON.parse(errorLines[0] ?? '{}') as Record<string, unknown>;
    assert.equal(logged.level, 50);
    assert.equal((logged.compiled as { allowed: boolean }).allowed, true);
    assert.equal((logged.wasm as { allowed: boolean }).allowed, false);

    const text = await metrics.registry.metrics();
    assert.match(text, /^cedargate_decision_crosscheck_disagreements_total 1$/m);
    assert.match(text, /^cedargate_decision_crosschecks_total 1$/m);
  });
});
