import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roleRelevanceOf } from '../../../../src/policy/authoring/role-relevance.js';
import { policyTreesOf } from '../../../../src/policy/cedar-adapter.js';
import { parseSchema } from '../../../../src/policy/schema.js';
import { schemaWithRoles } from '../../../helpers/small-policies.js';

const parsed = parseSchema(schemaWithRoles(['admin', 'user', 'viewer']));
assert.ok(parsed.ok);
const { schema } = parsed;

const A = (id: string) => `Cedargate::Action::"${id}"`;
const R = (id: string) => `Cedargate::Role::"${id}"`;
const update = (condition: string) =>
  `permit (principal, action == ${A('users:update')}, resource) when { ${condition} };`;

describe('roleRelevanceOf', () => {
  it('a contains of literals counts those roles in that set only; isEmpty and == count every role', () => {
    const answer = roleRelevanceOf(
      policyTreesOf({
        a: update(`principal.roles.contains(${R('admin')})`),
        b: update(`context.rolesAdded.containsAny([${R('admin')}, ${R('viewer')}])`),
        c: update('resource.roles.isEmpty() || context.rolesRemoved == principal.roles'),
      }),
      schema,
    );
    assert.deepEqual(answer, {
      ok: true,
      relevance: {
        perRole: { admin: ['principal', 'rolesAdded'], viewer: ['rolesAdded'] },
        allRoles: ['principal', 'resource', 'rolesRemoved'],
      },
    });
  });

  it('refuses a role set read anywhere else, naming the policy', () => {
    const answer = roleRelevanceOf(
      policyTreesOf({
        chooses: update(
          `(if principal.isOwner then context.rolesAdded else principal.roles).contains(${R('user')})`,
        ),
      }),
      schema,
    );
    assert.deepEqual(answer, {
      ok: false,
      reason: 'policy chooses reads a role set where the role quotient cannot follow it',
    });
  });
});
