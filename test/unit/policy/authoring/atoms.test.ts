import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileSigner } from '../../../../src/policy/authoring/atoms.js';
import type { Signer } from '../../../../src/policy/authoring/atoms.js';
import { policyTreesOf } from '../../../../src/policy/cedar-adapter.js';
import { parseSchema } from '../../../../src/policy/schema.js';
import type { AuthzRequest, ParsedSchema } from '../../../../src/policy/types.js';
import { SMALL_SCHEMA } from '../../../helpers/small-policies.js';

const parsed = parseSchema(SMALL_SCHEMA.replace('["user"]', '["user", "admin"]'));
assert.ok(parsed.ok);
const schema: ParsedSchema = parsed.schema;

const A = (id: string) => `Cedargate::Action::"${id}"`;

function signerOf(policies: Record<string, string>): Signer {
  const answer = compileSigner(policyTreesOf(policies), schema, []);
  assert.ok(answer.ok, answer.ok ? '' : answer.reason);
  return answer.signer;
}

const update = (over: {
  principalRoles?: string[];
  resourceId?: string;
  added?: string[];
  nameChanges?: boolean;
}): AuthzRequest => ({
  principal: { id: 'u1', tenantId: 't1', roles: over.principalRoles ?? [], isOwner: false },
  action: 'users:update',
  resource: {
    type: 'User',
    id: over.resourceId ?? 'u2',
    tenantId: 't1',
    roles: [],
    isOwner: false,
  },
  context: {
    rolesRequested: over.added ?? [],
    rolesAdded: over.added ?? [],
    rolesRemoved: [],
    nameChanges: over.nameChanges ?? false,
    avatarChanges: false,
  },
});

describe('compileSigner', () => {
  const sign = signerOf({
    admins: `permit (principal, action == ${A('users:update')}, resource)
when { principal.roles.contains(Cedargate::Role::"admin") && !context.rolesAdded.isEmpty() };`,
    self: `permit (principal, action == ${A('users:update')}, resource) when { resource == principal };`,
    list: `permit (principal, action == ${A('users:list')}, resource) when { principal.isOwner };`,
  });

  it('gives requests that satisfy the same policies the same signature', () => {
    // nameChanges and the role `user` are read by no policy; a non-admin adding a role
    // satisfies no policy, as one adding nothing does.
    assert.equal(
      sign(update({ principalRoles: ['admin'], nameChanges: true })),
      sign(update({ principalRoles: ['admin', 'user'] })),
    );
    assert.equal(sign(update({ added: ['user'] })), sign(update({})));
    // One place per policy that may apply to an update: admins and self, not list.
    assert.equal(sign(update({})), 'users:update:00');
  });

  it('tells apart requests that satisfy other policies', () => {
    assert.equal(sign(update({ principalRoles: ['admin'], added: ['user'] })), 'users:update:10');
    assert.equal(sign(update({ resourceId: 'u1' })), 'users:update:01');
    assert.equal(
      sign({ ...update({}), action: 'users:list', resource: { type: 'Tenant', id: 't1' } }),
      'users:list:0',
    );
  });

  it('reads roles the schema does not declare as not held, as the adapter leaves them out', () => {
    assert.equal(sign(update({ added: ['retired'] })), sign(update({})));
  });

  it('leaves a request on which a policy errs, or that it cannot model, to Cedar', () => {
    const errs = signerOf({
      p: `permit (principal, action == ${A('users:update')}, resource) when { context.nameChanges };`,
    });
    const { nameChanges: _, ...without } = update({}).context;
    assert.equal(errs({ ...update({}), context: without }), null);
    assert.equal(errs(update({ nameChanges: true })), 'users:update:1');
    const opaque = signerOf({
      p: `permit (principal, action == ${A('users:update')}, resource) when { Cedargate::User::"bob".isOwner };`,
    });
    assert.equal(opaque(update({})), null);
    assert.equal(opaque(update({ resourceId: 'bob' })), 'users:update:0');
  });

  it('refuses a set with a construct it does not model, naming the policy', () => {
    for (const [condition, construct] of [
      ['principal has tenant', '`has`'],
      ['context.nameChanges like "a*"', '`like`'],
      ['principal.roles.isEmpty() || context.n < 2', '`<`'],
    ] as const) {
      const answer = compileSigner(
        policyTreesOf({
          odd: `permit (principal, action == ${A('users:update')}, resource) when { ${condition} };`,
        }),
        schema,
        [],
      );
      assert.equal(answer.ok, false, condition);
      if (!answer.ok)
        assert.ok(answer.reason.startsWith(`policy odd uses ${construct}`), answer.reason);
    }
  });
});
