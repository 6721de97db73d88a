/**
 * A small policy directory with known coverage: the shipped schema, three policies in two files
 * (`read` is exercised by no case), two test files.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedPolicies } from './process.js';

export const FIXTURE_POLICIES = {
  'a.cedar': `@id("list")
permit (
  principal,
  action == Cedargate::Action::"users:list",
  resource is Cedargate::Tenant
)
when { principal.tenant == resource };

@id("read")
permit (
  principal,
  action == Cedargate::Action::"users:read",
  resource is Cedargate::User
)
when { resource.tenant == principal.tenant };
`,
  'b.cedar': `// Nothing crosses tenants.
@id("cross")
@notice("Users of another tenant are out of reach.")
forbid (
  principal,
  action,
  resource is Cedargate::User
)
unless { resource.tenant == principal.tenant };
`,
};

export const FIXTURE_TESTS = {
  'list.yaml': `users:
  uma: { tenant: acme, roles: [user] }
cases:
  - name: 'a member lists: their tenant'
    principal: uma
    action: users:list
    resource: acme
    expect: allow
  - name: another tenant is not listed
    principal: uma
    action: users:list
    resource: globex
    expect: deny
`,
  'cross.yaml': `users:
  uma: { tenant: acme, roles: [user] }
  gina: { tenant: globex, roles: [user] }
cases:
  - name: no reading across tenants
    principal: uma
    action: users:read
    resource: gina
    expect: deny
    notices: [Users of another tenant are out of reach.]
`,
};

/** Writes the fixture into `dir` (which exists). */
export function writePolicyFixture(dir: string): void {
  copyFileSync(join(shippedPolicies, 'schema.cedarschema'), join(dir, 'schema.cedarschema'));
  for (const [name, text] of Object.entries(FIXTURE_POLICIES)) writeFileSync(join(dir, name), text);
  mkdirSync(join(dir, 'tests'), { recursive: true });
  for (const [name, text] of Object.entries(FIXTURE_TESTS)) {
    writeFileSync(join(dir, 'tests', name), text);
  }
}
