/**
 * The compiled decider against Cedar (wasm), its oracle: random schemas (1–20 roles, sometimes
 * an optional attribute and an action group), random policy sets from the grammar of the
 * supported constructs (test/helpers/cedar-grammar.ts), random requests (the sidecar's own
 * context builders, unknown roles, now and then a context Cedar refuses). Every answer must
 * equal the wasm-backed set's: decision, determining policies, notices, errors, ignored roles;
 * and the compiled path must answer every request Cedar accepts itself (no fallback).
 *
 * A second property runs the same check against a deliberately broken decider (`containsAny`
 * read as `containsAll`) and requires it to fail: the test can catch a wrong operator.
 *
 * FUZZ_RUNS=<n> raises the runs (default 100 sets × 25 requests), FUZZ_SEED=<n> replays one;
 * `npm run fuzz` runs many more.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { authzRequestArb } from '../../../helpers/authz-requests.js';
import { policySetArb, schemaText, type SchemaParams } from '../../../helpers/cedar-grammar.js';
import { policyTreesOf, validatePolicies } from '../../../../src/policy/cedar-adapter.js';
import { compileDecider, type DeciderPolicy } from '../../../../src/policy/compiled/decider.js';
import type { Expr, PolicyEst } from '../../../../src/policy/est.js';
import { buildPolicySet, compileLoadedSet } from '../../../../src/policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../../../src/policy/types.js';
import { fuzzParameters, fuzzRuns } from '../../../helpers/fuzz.js';

const RUNS = fuzzRuns(100);
const REQUESTS = 25;

const seen = (d: Omit<Decision, 'cached'>) => ({
  allowed: d.allowed,
  policies: d.policies,
  notices: d.notices,
  errors: d.errors,
  ignoredRoles: d.ignoredRoles ?? [],
});

/** The requests of one run: the sidecar's shapes, and sometimes a context Cedar refuses. */
const requestsArb = (
  params: SchemaParams,
): fc.Arbitrary<{ request: AuthzRequest; bogus: boolean }[]> =>
  fc.array(
    fc
      .tuple(
        authzRequestArb({
          userIds: ['u1', 'u2', 'u"q'],
          tenantIds: ['t1', 't2'],
          roles: [...params.roles, 'ghost'],
        }),
        fc.integer({ min: 0, max: 19 }),
      )
      .map(([request, n]) =>
        n === 0
          ? { request: { ...request, context: { ...request.context, bogus: true } }, bogus: true }
          : { request, bogus: false },
      ),
    { minLength: REQUESTS, maxLength: REQUESTS },
  );

/**
 * One user as principal and resource with other facts (roles the schema knows compared):
 * Cedar refuses the two entities as a whole, so the compiled path hands the request back.
 */
function conflicting(request: AuthzRequest, roles: readonly string[]): boolean {
  const { principal: p, resource: r } = request;
  const known = (xs: readonly string[]) => xs.filter((x) => roles.includes(x));
  return (
    r.type === 'User' &&
    r.id === p.id &&
    JSON.stringify([r.tenantId, known(r.roles), r.isOwner]) !==
      JSON.stringify([p.tenantId, known(p.roles), p.isOwner])
  );
}

let slot = 0;
const tally = { sets: 0, drawn: 0, kept: 0, allowed: 0, denied: 0, errors: 0, fallbacks: 0 };

/** One random set's agreement on its requests; `mutate` breaks the compiled side on purpose. */
function agreement(mutate: (est: PolicyEst) => PolicyEst) {
  return fc.property(
    policySetArb(8).chain((s) => requestsArb(s.params).map((requests) => ({ ...s, requests }))),
    ({ params, policies, requests }) => {
      const text = schemaText(params);
      const byId = Object.fromEntries(policies.map((p, i) => [`p${i}`, p]));
      const validation = validatePolicies(text, byId);
      assert.deepEqual(validation.schemaProblems, []);
      const refused = new Set(validation.errors.map((e) => e.policyId));
      const kept = policies.filter((_, i) => !refused.has(`p${i}`));
      tally.drawn += policies.length;
      tally.kept += kept.length;
      if (kept.length === 0) return;
      const set = buildPolicySet('/random', {
        schema: { file: 'schema.cedarschema', text },
        policies: [{ file: 'random.cedar', text: kept.join('\n') }],
        version: 'random',
      });
      const wasm = compileLoadedSet(`compiled-differential-${slot++ % 4}`, set, {
        engine: 'wasm',
      });
      const trees = policyTreesOf(set.texts);
      const input: Record<string, DeciderPolicy> = {};
      for (const p of set.policies) {
        input[p.id] = {
          est: mutate(trees[p.id] as PolicyEst),
          meta: { effect: p.effect, notice: p.notice },
        };
      }
      let fellBack = 0;
      const answer = compileDecider({
        schema: set.schema,
        policies: input,
        fallback: (r) => {
          fellBack++;
          return wasm.authorize(r);
        },
      });
      assert.ok('decider' in answer, 'unsupported' in answer ? answer.unsupported : '');
      tally.sets++;
      for (const { request, bogus } of requests) {
        const before = fellBack;
        const expected = seen(wasm.authorize(request));
        assert.deepEqual(
          seen(answer.decider.decide(request)),
          expected,
          JSON.stringify({ kept, request }),
        );
        // A request Cedar accepts is answered by the compiled path itself.
        const handedBack = bogus || conflicting(request, params.roles);
        assert.equal(fellBack - before, handedBack ? 1 : 0, JSON.stringify(request));
        tally[expected.allowed ? 'allowed' : 'denied']++;
        if (expected.errors.length > 0) tally.errors++;
        if (handedBack) tally.fallbacks++;
      }
    },
  );
}

function mapExpr(e: Expr, f: (e: Expr) => Expr): Expr {
  const deep = Object.fromEntries(
    Object.entries(e).map(([k, v]) => [
      k,
      typeof v === 'object' && v !== null && 'op' in v
        ? mapExpr(v as Expr, f)
        : Array.isArray(v)
          ? v.map((x: unknown) =>
              typeof x === 'object' && x !== null && 'op' in x ? mapExpr(x as Expr, f) : x,
            )
          : v,
    ]),
  ) as Expr;
  return f(deep);
}

/** `containsAny` read as `containsAll`: the broken operator the test must catch. */
const breakContainsAny = (est: PolicyEst): PolicyEst => ({
  ...est,
  conditions: est.conditions.map((c) => ({
    ...c,
    body: mapExpr(c.body, (e) => (e.op === 'containsAny' ? { ...e, op: 'containsAll' } : e)),
  })),
});

describe('the compiled decider against Cedar (property)', () => {
  it('gives the same decision, policies, notices, errors and ignored roles', () => {
    fc.assert(
      agreement((est) => est),
      fuzzParameters(RUNS),
    );
    // The grammar is not degenerate: most policies validate, and every kind of answer occurs.
    assert.ok(tally.kept > tally.drawn / 2, JSON.stringify(tally));
    assert.ok(
      tally.allowed > 0 && tally.denied > 0 && tally.errors > 0 && tally.fallbacks > 0,
      JSON.stringify(tally),
    );
  });

  it('fails on a decider with a broken operator (containsAny read as containsAll)', () => {
    let failure = '';
    try {
      fc.assert(
        agreement(breakContainsAny),
        // Found is enough here: shrinking rebuilds a policy set per step.
        fuzzParameters(Math.max(RUNS, 2000), { endOnFailure: true }),
      );
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    assert.match(failure, /Property failed after \d+ tests/);
    assert.match(failure, /containsAny/);
  });
});
