/**
 * `policy diff` over two sets whose schemas differ (issue 27 item 1): the schema difference is
 * stated first, and requests only one side's API accepts (a role one side lacks) are counted
 * apart, with an example, never read as decision changes.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { diffPolicySets, renderDiff } from '../../../../src/policy/authoring/diff.js';
import { loadPolicySet } from '../../../../src/policy/policy-set.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';
import { shippedPolicies, tempDir } from '../../../helpers/process.js';
import { SUPPORT_POLICIES, withRoleEnum } from '../../../helpers/support-role.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** A copy of the shipped policies with the Role enum replaced and `extra` files added. */
function withRoles(roles: string[], extra: Record<string, string> = {}): string {
  const t = tempDir('cedargate-diff-schema-');
  cleanups.push(t.remove);
  cpSync(shippedPolicies, t.path, { recursive: true });
  const schema = join(t.path, 'schema.cedarschema');
  writeFileSync(schema, withRoleEnum(readFileSync(schema, 'utf8'), roles));
  for (const [file, body] of Object.entries(extra)) writeFileSync(join(t.path, file), body);
  return t.path;
}

const carries = (r: AuthzRequest, role: string) =>
  r.principal.roles.includes(role) ||
  (r.resource.type === 'User' && r.resource.roles.includes(role)) ||
  Object.values(r.context).some((v) => Array.isArray(v) && v.includes(role));

describe('policy diff: schemas that differ', () => {
  it('a role added with no other change: the schema change, and no decision class', async () => {
    const base = await loadPolicySet(shippedPolicies);
    const candidate = await loadPolicySet(withRoles(['admin', 'user', 'viewer', 'support']));
    const r = diffPolicySets(base, candidate);
    assert.deepEqual(
      r.classes.map((c) => c.summary),
      [],
      'adding a role changes no decision of a request both APIs accept',
    );
    assert.equal(r.changed, 0);
    const [added, ...rest] = r.schema;
    assert.deepEqual(rest, []);
    assert.equal(added?.kind, 'role-added');
    assert.equal(added?.role, 'support');
    assert.match(
      added?.text ?? '',
      /^role `support` added: requests that carry it are refused \(422\) by the base API/,
    );
    assert.ok((added?.requests ?? 0) > 0, 'the requests carrying support are counted');
    assert.equal(r.oneSided, added?.requests);
    assert.ok(added?.example !== null && added?.example !== undefined);
    assert.ok(carries(added.example, 'support'), JSON.stringify(added.example));
    const text = renderDiff(r);
    const schemaAt = text.indexOf('role `support` added');
    assert.ok(schemaAt > 0 && schemaAt < text.indexOf('no request'), text);
    // The note says what happens on each side, not that such a role is "denied".
    assert.doesNotMatch(text, /is denied there/);
    assert.match(text, /refused \(422\) by that side's API/);
  });

  it('a role removed: bodies asking for it are counted apart, its holders stay compared', async () => {
    const base = await loadPolicySet(shippedPolicies);
    const candidate = await loadPolicySet(withRoles(['admin', 'user']));
    const r = diffPolicySets(base, candidate);
    const [removed] = r.schema;
    assert.equal(removed?.kind, 'role-removed');
    assert.match(removed?.text ?? '', /^role `viewer` removed: .*refused \(422\) by the candidate/);
    assert.ok((removed?.requests ?? 0) > 0);
    const example = removed?.example as AuthzRequest;
    assert.ok(
      (example.context['rolesRequested'] as string[]).includes('viewer'),
      JSON.stringify(example),
    );
    for (const c of r.classes)
      assert.ok(
        !((c.example.context['rolesRequested'] as string[] | undefined) ?? []).includes('viewer'),
        c.summary,
      );
  });

  it('the support walk-through: what holding support gives is said with the role, not as a class', async () => {
    const base = await loadPolicySet(shippedPolicies);
    const candidate = await loadPolicySet(
      withRoles(['admin', 'user', 'viewer', 'support'], { 'support.cedar': SUPPORT_POLICIES }),
    );
    const r = diffPolicySets(base, candidate);
    assert.deepEqual(
      r.classes.map((c) => c.summary),
      [],
    );
    const [added] = r.schema;
    const renames = added?.effects.find((e) => e.with.policies.includes('support-renames-users'));
    assert.ok(renames !== undefined, JSON.stringify(added?.effects));
    assert.equal(renames.with.decision, 'allow');
    assert.equal(renames.without.decision, 'deny');
    assert.ok(renames.example.principal.roles.includes('support'));
    assert.match(renderDiff(r), /users:update: allow by support-renames-users, without it deny/);
  });
});
