import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clauseTracerOf } from '../../../../src/policy/authoring/clauses.js';
import type { ClauseTracer } from '../../../../src/policy/authoring/clauses.js';
import { buildPolicySet, loadPolicySet } from '../../../../src/policy/policy-set.js';
import { conditionLinesOf } from '../../../../src/policy/text-scanners.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';
import { shippedPolicies, tempDir } from '../../../helpers/process.js';
import { schemaWithRoles } from '../../../helpers/small-policies.js';

const POLICIES = `// a comment that says when and unless
@id("edit")
@note("when { this is no condition }")
permit (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when { resource.tenant == principal.tenant }
unless
{
  // unless here is a comment
  context.rolesAdded.isEmpty() && principal.isOwner
}
when { context.nameChanges };

@id("everyone-reads")
permit (principal, action == Cedargate::Action::"users:read", resource);
`;

const fixture = tempDir('cedargate-clauses-');
after(() => fixture.remove());
let tracer: ClauseTracer;
before(async () => {
  const schema = 'schema.cedarschema';
  copyFileSync(join(shippedPolicies, schema), join(fixture.path, schema));
  writeFileSync(join(fixture.path, 'p.cedar'), POLICIES);
  tracer = clauseTracerOf(fixture.path, await loadPolicySet(fixture.path));
});

const user = (id: string, tenantId: string, isOwner = false) => ({
  id,
  tenantId,
  roles: ['user'],
  isOwner,
});
function update(context: Record<string, unknown>, tenant = 'acme'): AuthzRequest {
  return {
    principal: user('a', 'acme', true),
    action: 'users:update',
    resource: { type: 'User', ...user('b', tenant) },
    context: {
      rolesRequested: [],
      rolesAdded: [],
      rolesRemoved: [],
      nameChanges: false,
      avatarChanges: false,
      ...context,
    },
  };
}

describe('conditionLinesOf', () => {
  it('places each when/unless from the first token, skipping comments, strings and annotations', () => {
    assert.deepEqual(conditionLinesOf(POLICIES.split(';')[0] ?? ''), [7, 8, 13]);
  });
});

describe('clauseTracerOf', () => {
  it('names each clause at file:line with its atoms, in the set order', () => {
    const at = (line: number) => `${join(fixture.path, 'p.cedar')}:${line}`;
    assert.deepEqual(
      tracer.shapes.map((s) => [s.id, s.location, s.clauses]),
      [
        [
          'edit',
          at(2),
          [
            { kind: 'when', location: at(9), atoms: ['resource.tenant == principal.tenant'] },
            {
              kind: 'unless',
              location: at(10),
              atoms: ['context.rolesAdded.isEmpty()', 'principal.isOwner'],
            },
            { kind: 'when', location: at(15), atoms: ['context.nameChanges'] },
          ],
        ],
        ['everyone-reads', at(17), []],
      ],
    );
  });

  it('stops at the first clause that fails: later ones are unreached, short-circuited atoms unset', () => {
    const [edit, reads] = tracer.trace(update({}, 'globex'));
    assert.equal(edit?.scope, true);
    assert.deepEqual(
      edit?.clauses.map((c) => [c.outcome, c.atoms.map((a) => a.value)]),
      [
        ['failed', [false]],
        ['unreached', [undefined, undefined]],
        ['unreached', [undefined]],
      ],
    );
    assert.deepEqual([reads?.scope, reads?.clauses], [false, []]);
  });

  it('an unless whose body is true stops the policy; && stops reading at a false atom', () => {
    const stopped = tracer.trace(update({}))[0];
    assert.deepEqual(
      stopped?.clauses.map((c) => [c.outcome, c.atoms.map((a) => a.value)]),
      [
        ['held', [true]],
        ['failed', [true, true]],
        ['unreached', [undefined]],
      ],
    );
    const held = tracer.trace(update({ rolesAdded: ['admin'], nameChanges: true }))[0];
    assert.deepEqual(
      held?.clauses.map((c) => [c.outcome, c.atoms.map((a) => a.value)]),
      [
        ['held', [true]],
        ['held', [false, undefined]],
        ['held', [true]],
      ],
    );
  });
});

describe('clauseTracerOf: a policy scoped to an action group', () => {
  it('does not call the scope false for a member of the group: it cannot tell', () => {
    // Every group is itself a declared action: the atom analysis once took `writes` for a plain
    // action that users:update is not, and explain said the policy's scope did not match.
    const text = schemaWithRoles(['admin', 'user']).replace(
      'action "users:update"',
      'action "writes";\n  action "users:update" in ["writes"]',
    );
    const set = buildPolicySet('group', {
      schema: { file: 'schema.cedarschema', text },
      policies: [
        {
          file: 'p.cedar',
          text: `@id("writers")
permit (principal, action in Cedargate::Action::"writes", resource)
when { principal.isOwner };
`,
        },
      ],
      version: 'group',
    });
    const [writers] = clauseTracerOf('group', set).trace(update({}));
    assert.equal(writers?.id, 'writers');
    assert.equal(writers?.scope, null);
  });
});
