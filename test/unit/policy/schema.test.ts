import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readAllowedRoles, SCHEMA_FILE } from '../../../src/policy/schema.js';
import { loadPolicySet } from '../../../src/policy/policy-set.js';
import { tempDir } from '../../helpers/process.js';

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
