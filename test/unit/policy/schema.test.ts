import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { clauseTracerOf } from '../../../src/policy/authoring/clauses.js';
import { diffPolicySets } from '../../../src/policy/authoring/diff.js';
import { callShapeFor } from '../../../src/policy/cedar-adapter.js';
import { readAllowedRoles, SCHEMA_FILE } from '../../../src/policy/schema.js';
import { buildPolicySet, compileLoadedSet, loadPolicySet } from '../../../src/policy/policy-set.js';
import { createRequestAbstraction } from '../../../src/policy/request-abstraction.js';
import type { AuthzRequest } from '../../../src/policy/types.js';
import { tempDir } from '../../helpers/process.js';
import { countSchemaConversions } from '../../helpers/schema-conversions.js';
import { ADMINS_MANAGE, LIST, READ, schemaWithRoles } from '../../helpers/small-policies.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

// A Role enum in another namespace first (Cedar lists namespaces by name): the old backend reader
// took it (["legacy"]), while the sidecar's policy set took the namespace declaring User, Tenant, Role.
const twoNamespaces = `namespace Abandoned {
  entity Role enum ["legacy"];
}
namespace App {
  entity Role enum ["admin", "user"];
  entity Tenant;
  entity User in [Tenant] { tenant: Tenant, roles: Set<Role>, isOwner: Bool };
  action "users:list" appliesTo { principal: User, resource: Tenant, context: {} };
}
`;

function dirWith(schema: string): string {
  const t = tempDir('cedargate-schema-');
  cleanups.push(t.remove);
  writeFileSync(join(t.path, SCHEMA_FILE), schema);
  return t.path;
}

describe('readAllowedRoles', () => {
  it('reads the roles of the namespace that declares User, Tenant and Role, as the policy set does', async () => {
    const dir = dirWith(twoNamespaces);
    writeFileSync(
      join(dir, 'list.cedar'),
      '@id("list") permit (principal, action == App::Action::"users:list", resource);\n',
    );
    assert.deepEqual(readAllowedRoles(dir), ['admin', 'user']);
    assert.deepEqual((await loadPolicySet(dir)).schema.roles, ['admin', 'user']);
  });

  it('refuses a schema whose Role enum has no User and Tenant beside it, naming the file', () => {
    const dir = dirWith('namespace N { entity Role enum ["admin"]; }\n');
    assert.throws(
      () => readAllowedRoles(dir),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(err.message.startsWith(`${join(dir, SCHEMA_FILE)}: `), err.message);
        assert.match(err.message, /`entity Tenant` and `entity User` in one namespace/);
        return true;
      },
    );
  });

  it('names the file of a schema that does not parse', () => {
    const dir = dirWith('this is not cedar');
    assert.throws(() => readAllowedRoles(dir), new RegExp(`^Error: ${join(dir, SCHEMA_FILE)}: `));
  });
});

describe('parseSchema converts the schema once (issue 24 item 3)', () => {
  const setOf = (roles: string[], policies: string[]) =>
    buildPolicySet('/p', {
      schema: { file: SCHEMA_FILE, text: schemaWithRoles(roles) },
      policies: [{ file: 'p.cedar', text: policies.join('\n') }],
      version: roles.join(),
    });
  const read: AuthzRequest = {
    principal: { id: 'a', tenantId: 't', roles: ['admin'], isOwner: false },
    action: 'users:read',
    resource: { type: 'User', id: 'b', tenantId: 't', roles: ['user'], isOwner: false },
    context: {},
  };

  it('every tool reads the typed schema the load kept, and never asks Cedar again', () => {
    const conversions = countSchemaConversions();
    try {
      const base = setOf(['admin', 'user'], [LIST, READ]);
      const candidate = setOf(['admin', 'user', 'viewer'], [LIST, READ, ADMINS_MANAGE]);
      assert.equal(conversions.count(), 2, 'one conversion per set loaded');

      const compiled = compileLoadedSet('schema-once-compiled', base);
      assert.equal(compiled.decider, 'compiled');
      assert.equal(compiled.authorize(read).allowed, true);
      const wasm = compileLoadedSet('schema-once-wasm', base, { engine: 'wasm' });
      assert.equal(wasm.authorize(read).allowed, true);
      assert.equal(callShapeFor(base.schema, base.texts).tenantEntities, false);
      assert.equal(createRequestAbstraction(base).refusal, null);
      assert.equal(clauseTracerOf('/p', base).trace(read).length, 2);
      const report = diffPolicySets(base, candidate);
      assert.ok(report.classes.length > 0, 'the candidate lets admins update users');
      assert.equal(conversions.count(), 2, 'compiling, tracing and diffing converted nothing');
      assert.deepEqual(base.schema.shapes.entities['Cedargate::User']?.attributes.isOwner, {
        kind: 'Bool',
      });
    } finally {
      conversions.restore();
    }
  });
});
