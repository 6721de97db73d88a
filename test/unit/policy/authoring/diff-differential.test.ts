/**
 * The diff that asks Cedar once per atom signature (atoms.ts) against the one that asks it for
 * every request: random pairs of policy sets drawn from templates (contains, containsAny,
 * containsAll, isEmpty, the owner flag, the same user, the tenant hierarchy, a user named
 * literally, if-then-else, and `has`, which the atom analysis does not model and must fall back
 * on) over a small role enum must give the same report: the same changed requests, the same
 * classes with the same examples, determining policies, notices and counts.
 *
 * FUZZ_RUNS=<n> raises the runs (default 6; the quotient's property runs twice as many), FUZZ_SEED=<n> replays one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { diffPolicySets } from '../../../../src/policy/authoring/diff.js';
import { buildPolicySet, compileLoadedSet } from '../../../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../../../src/policy/policy-set.js';
import { schemaWithRoles } from '../../../helpers/small-policies.js';
import { fuzzParameters, fuzzRuns } from '../../../helpers/fuzz.js';

const RUNS = fuzzRuns(6);

const ROLES = ['admin', 'user', 'viewer'] as const;

const A = (id: string) => `Cedargate::Action::"${id}"`;
const R = (id: string) => `Cedargate::Role::"${id}"`;

/** One policy drawn from a template: its effect, a role or two, and its condition. */
interface Drawn {
  template: number;
  forbid: boolean;
  role: number;
  other: number;
}

/** Each template: the policy text for an id, an effect and two roles (of the enum). */
const TEMPLATES: ((id: string, effect: string, r: string, s: string) => string)[] = [
  (id, e, r) =>
    `${e} (principal, action in [${A('users:update')}, ${A('users:delete')}], resource is Cedargate::User)
when { principal.roles.contains(${R(r)}) && resource.tenant == principal.tenant };`,
  (id, e, r, s) =>
    `${e} (principal, action == ${A('users:update')}, resource is Cedargate::User)
when { context.rolesAdded.containsAny([${R(r)}, ${R(s)}]) || context.rolesRemoved.contains(${R(r)}) }
unless { principal.isOwner };`,
  (id, e) =>
    `${e} (principal, action == ${A('users:update')}, resource)
when { resource == principal && context.rolesAdded.isEmpty() && context.rolesRemoved.isEmpty() };`,
  (id, e) =>
    `${e} (principal, action, resource is Cedargate::User) when { resource.isOwner && resource != principal };`,
  (id, e, r) =>
    `${e} (principal, action == ${A('users:create')}, resource is Cedargate::Tenant)
when { principal.tenant == resource && (principal.isOwner || !context.rolesRequested.contains(${R(r)})) };`,
  (id, e) =>
    `${e} (principal, action in [${A('users:list')}, ${A('users:read')}], resource)
when { resource in principal.tenant };`,
  (id, e) =>
    `${e} (principal == Cedargate::User::"alice", action, resource is Cedargate::User)
when { resource.roles.isEmpty() };`,
  (id, e, r, s) =>
    `${e} (principal, action == ${A('users:delete')}, resource is Cedargate::User)
when { if principal.isOwner then true else resource.roles.containsAll([${R(r)}, ${R(s)}]) };`,
  (id, e) =>
    `${e} (principal, action == ${A('users:update')}, resource is Cedargate::User)
when { context.nameChanges && !context.avatarChanges && principal.roles.isEmpty() };`,
  // Not modelled by the atom analysis: the diff must fall back and say so.
  (id, e) => `${e} (principal, action == ${A('users:read')}, resource is Cedargate::User)
when { principal has tenant && principal.tenant == resource.tenant };`,
];
const UNSUPPORTED = TEMPLATES.length - 1;

function setOf(name: string, roles: readonly string[], drawn: readonly Drawn[]): LoadedPolicySet {
  const policies = drawn.map((d, i) => {
    const id = `${name}-${i}-t${d.template}`;
    const effect = d.forbid ? 'forbid' : 'permit';
    const r = roles[d.role % roles.length] as string;
    const s = roles[d.other % roles.length] as string;
    const body = (TEMPLATES[d.template] as (typeof TEMPLATES)[number])(id, effect, r, s);
    const notice = d.forbid ? `@notice("denied by ${id}")\n` : '';
    return `@id("${id}")\n${notice}${body}\n`;
  });
  return buildPolicySet(name, {
    schema: { file: 'schema.cedarschema', text: schemaWithRoles(roles) },
    policies: [{ file: 'policies.cedar', text: policies.join('\n') }],
    version: name,
  });
}

const drawnOf = (templates: number) =>
  fc.record({
    template: fc.nat({ max: templates - 1 }),
    forbid: fc.boolean(),
    role: fc.nat({ max: 5 }),
    other: fc.nat({ max: 5 }),
  });
const drawnArb = drawnOf(TEMPLATES.length);
/** Without the unsupported template: the quotient needs both sets modelled. */
const modelledArb = drawnOf(UNSUPPORTED);

/** The report without what depends on how it was computed (time, calls, notes). */
function essence(r: ReturnType<typeof diffPolicySets>) {
  return {
    requests: r.requests,
    changed: r.changed,
    exhaustive: r.exhaustive,
    classes: r.classes,
  };
}

/**
 * Two sets over the same roles (as many as `sizes` draws: 2 or 3), each of 1 to 6 policies drawn
 * by `arb`, and the draws of each.
 */
const pairOf = (sizes: readonly number[], arb: fc.Arbitrary<Drawn>) =>
  fc
    .tuple(
      fc.constantFrom(...sizes),
      fc.array(arb, { minLength: 1, maxLength: 6 }),
      fc.array(arb, { minLength: 1, maxLength: 6 }),
    )
    .map(([size, baseDrawn, candidateDrawn]) => {
      const roles = ROLES.slice(0, size);
      return {
        base: setOf('base', roles, baseDrawn),
        candidate: setOf('candidate', roles, candidateDrawn),
        drawn: [baseDrawn, candidateDrawn],
      };
    });
/** Two modelled sets over the same 2 or 3 roles: what the quotient is compared on. */
const pairArb = pairOf([2, 3], modelledArb);

describe('policy diff: once per atom signature equals once per request', () => {
  it('gives the same report for random policy pairs over a small role enum', () => {
    fc.assert(
      fc.property(
        // Two roles mostly: the reference asks Cedar for every request, ~8 s a run at three.
        pairOf([2, 2, 2, 3], drawnArb),
        ({ base, candidate, drawn }) => {
          const fast = diffPolicySets(base, candidate);
          const slow = diffPolicySets(base, candidate, { signatures: false });
          assert.deepEqual(essence(fast), essence(slow));
          const unsupported = drawn.map((d) => d.some((x) => x.template === UNSUPPORTED));
          const fellBack = ['base', 'candidate'].map((side) =>
            fast.notes.some((n) => n.startsWith(`${side}: policy`) && n.includes('`has`')),
          );
          assert.deepEqual(fellBack, unsupported, fast.notes.join('\n'));
          if (!unsupported[0] && !unsupported[1])
            assert.ok(fast.cedarCalls < slow.cedarCalls, `${fast.cedarCalls} calls`);
        },
      ),
      fuzzParameters(RUNS),
    );
  });

  it('the role quotient gives the same classes, counts and answers as the exact diff', () => {
    fc.assert(
      fc.property(pairArb, ({ base, candidate }) => {
        const exact = diffPolicySets(base, candidate);
        // Forced: the space is small, so the quotient would not be chosen by itself.
        const q = diffPolicySets(base, candidate, { maxRequests: 0, quotientAbove: 0 });
        assert.match(
          q.notes.join('\n'),
          /each role is enumerated up to what the policies can tell/,
        );
        const key = (c: (typeof q.classes)[number]) =>
          JSON.stringify([c.action, c.kind, c.before, c.after, c.count]);
        assert.deepEqual(q.classes.map(key).sort(), exact.classes.map(key).sort());
        assert.deepEqual([q.requests, q.changed], [exact.requests, exact.changed]);
        for (const c of q.classes) assert.ok(c.count <= c.matching, c.summary);
        // Each example, decided afresh by the engine, gives the class's answers.
        const engines = [base, candidate].map((set, i) =>
          compileLoadedSet(`quotient-check-${i}`, set, { engine: 'wasm' }),
        );
        for (const c of q.classes) {
          const [b, a] = engines.map((e) => {
            const d = e.authorize(c.example);
            return [d.allowed ? 'allow' : 'deny', d.policies, d.notices];
          });
          assert.deepEqual(b, [c.before.decision, c.before.policies, c.before.notices], c.summary);
          assert.deepEqual(a, [c.after.decision, c.after.policies, c.after.notices], c.summary);
        }
      }),
      fuzzParameters(2 * RUNS),
    );
  });
});

describe('policy diff: counted per role equals enumerated', () => {
  it('gives the enumeration of the quotient exactly: classes, examples, descriptions, counts', () => {
    let counted = 0;
    fc.assert(
      fc.property(pairArb, ({ base, candidate }) => {
        const quotient = { maxRequests: 0, quotientAbove: 0 };
        const fast = diffPolicySets(base, candidate, quotient);
        const slow = diffPolicySets(base, candidate, { ...quotient, counted: false });
        assert.deepEqual(essence(fast), essence(slow));
        if (!fast.notes.some((n) => n.startsWith('not counted per role'))) counted++;
      }),
      fuzzParameters(2 * RUNS),
    );
    // Most drawn pairs are counted; the rest fall back (a role guarding an error, say).
    assert.ok(counted > 0, `${counted} of ${2 * RUNS} counted`);
  });
});

describe('policy diff: a policy scoped to an action group', () => {
  it('counts in the signatures of the group members, as Cedar decides them', () => {
    // Every group is itself a declared action: the atom analysis once took `writes` for a plain
    // action that users:update is not, left the policy out of users:update's signature, and
    // spread the first answer over every update (call-shape.ts had the same flaw).
    const text = schemaWithRoles(['admin', 'user']).replace(
      'action "users:update"',
      'action "writes";\n  action "users:update" in ["writes"]',
    );
    const list = `@id("list")
permit (principal, action == ${A('users:list')}, resource is Cedargate::Tenant)
when { principal.tenant == resource };
`;
    const writers = `@id("writers")
permit (principal, action in ${A('writes')}, resource)
when { principal.roles.contains(${R('admin')}) };
`;
    const setWith = (name: string, policies: string) =>
      buildPolicySet(name, {
        schema: { file: 'schema.cedarschema', text },
        policies: [{ file: 'policies.cedar', text: policies }],
        version: name,
      });
    const base = setWith('base', list + writers);
    const candidate = setWith('candidate', list);
    const slow = diffPolicySets(base, candidate, { signatures: false });
    const lost = slow.classes.filter((c) => c.action === 'users:update');
    assert.ok(lost.length > 0, 'admins lose users:update');
    for (const c of lost)
      assert.deepEqual(
        [c.before.decision, c.before.policies, c.after.decision],
        ['allow', ['writers'], 'deny'],
      );
    assert.deepEqual(essence(diffPolicySets(base, candidate)), essence(slow));
  });
});
