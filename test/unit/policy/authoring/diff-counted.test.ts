/**
 * `policy diff` counted per role (diff-counted.ts) against the enumeration of every
 * representative of the role quotient: the sets `npm run bench` times (bench/diff-sets.ts) give
 * the same report either way, at a number of decided representatives that no longer grows ×3
 * per named role; what cannot be counted exactly falls back to the enumeration and says why.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDiffSets } from '../../../../bench/diff-sets.js';
import { DiffTooLargeError, diffPolicySets } from '../../../../src/policy/authoring/diff.js';
import type { DiffOptions, DiffReport } from '../../../../src/policy/authoring/diff.js';
import { buildPolicySet, loadPolicySet } from '../../../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../../../src/policy/policy-set.js';
import { tempDir } from '../../../helpers/process.js';
import { schemaWithRoles } from '../../../helpers/small-policies.js';

const sets = tempDir('cedargate-diff-sets-');
before(() => writeDiffSets(sets.path));
after(() => sets.remove());

const load = (name: string) => loadPolicySet(join(sets.path, name));
/** Small spaces take the quotient only when told to. */
const QUOTIENT: DiffOptions = { maxRequests: 0, quotientAbove: 0 };

/** The report without what depends on how it was computed (time, calls, notes). */
function essence(r: DiffReport) {
  return { requests: r.requests, changed: r.changed, exhaustive: r.exhaustive, classes: r.classes };
}

const notCounted = (r: DiffReport) => r.notes.filter((n) => n.startsWith('not counted per role'));

describe('policy diff counted per role', () => {
  for (const pair of ['shipped', 'named4', 'r4n3'])
    it(`${pair}: the same report as enumerating the quotient, from fewer representatives`, async () => {
      const base = await load(pair);
      const candidate = await load(pair === 'shipped' ? 'shipped-widen' : `${pair}-mut`);
      const counted = diffPolicySets(base, candidate, QUOTIENT);
      const enumerated = diffPolicySets(base, candidate, { ...QUOTIENT, counted: false });
      assert.deepEqual(notCounted(counted), []);
      assert.ok(counted.classes.length > 0);
      assert.deepEqual(essence(counted), essence(enumerated));
      assert.ok(
        counted.decided * 5 < enumerated.decided,
        `${counted.decided} counted, ${enumerated.decided} enumerated`,
      );
    });

  it('8 named roles: every request counted from a few thousand representatives', async () => {
    // Enumerated, the quotient decides 349,978 representatives here (×3 per named role).
    const r = diffPolicySets(await load('named8'), await load('named8-mut'));
    assert.deepEqual(notCounted(r), []);
    assert.match(r.notes.join('\n'), /role quotient: the space holds 1076627456 requests/);
    assert.ok(r.decided < 20_000, `${r.decided} representatives`);
    assert.ok(r.requests > 100_000_000, `${r.requests} requests`);
    assert.ok(r.changed > 0 && r.changed < r.requests);
    for (const c of r.classes) assert.ok(c.count <= c.matching, c.summary);
  });

  it('a role set compared whole is not counted: it says why and enumerates', () => {
    const policy = `@id("same-roles")
permit (principal, action == Cedargate::Action::"users:update", resource is Cedargate::User)
when { principal.roles == resource.roles };
`;
    const setOf = (name: string, text: string): LoadedPolicySet =>
      buildPolicySet(name, {
        schema: { file: 'schema.cedarschema', text: schemaWithRoles(['admin', 'user']) },
        policies: [{ file: 'policies.cedar', text }],
        version: name,
      });
    const base = setOf('base', policy);
    const candidate = setOf('candidate', policy.replace('roles == resource', 'roles != resource'));
    const r = diffPolicySets(base, candidate, QUOTIENT);
    assert.deepEqual(notCounted(r), [
      'not counted per role (a role set is read by `==`): every representative enumerated',
    ]);
    assert.deepEqual(
      essence(r),
      essence(diffPolicySets(base, candidate, { ...QUOTIENT, counted: false })),
    );
  });

  it('refuses sets whose counting holds too many states, before answering', async () => {
    const base = await load('named4');
    const candidate = await load('named4-mut');
    assert.throws(
      () => diffPolicySets(base, candidate, { ...QUOTIENT, maxStates: 4 }),
      (err: unknown) =>
        err instanceof DiffTooLargeError &&
        err.stateLimit === 4 &&
        /too many requests to compare: .* counting them per role holds more than the 4 states/.test(
          err.message,
        ),
    );
  });
});
