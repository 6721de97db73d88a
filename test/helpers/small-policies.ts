import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './process.js';

/** The shipped schema's shape with the `Role` enum given: for policy sets built in tests. */
export const schemaWithRoles = (roles: readonly string[]): string => `namespace Cedargate {
  entity Role enum [${roles.map((r) => JSON.stringify(r)).join(', ')}];
  entity Tenant;
  entity User in [Tenant] { tenant: Tenant, roles: Set<Role>, isOwner: Bool };
  action "users:list" appliesTo { principal: User, resource: Tenant, context: {} };
  action "users:read" appliesTo { principal: User, resource: User, context: {} };
  action "users:create" appliesTo { principal: User, resource: Tenant, context: { rolesRequested: Set<Role> } };
  action "users:update" appliesTo { principal: User, resource: User, context: {
    rolesRequested: Set<Role>, rolesAdded: Set<Role>, rolesRemoved: Set<Role>,
    nameChanges: Bool, avatarChanges: Bool } };
  action "users:delete" appliesTo { principal: User, resource: User, context: {} };
}
`;

/** A policy set small enough that `policy diff` over it is quick: one role, two permits. */
export const SMALL_SCHEMA = schemaWithRoles(['user']);
export const LIST = `@id("list")
permit (principal, action == Cedargate::Action::"users:list", resource is Cedargate::Tenant)
when { principal.tenant == resource };
`;
export const READ = `@id("read")
permit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)
when { resource.tenant == principal.tenant };
`;

/** Hides the owner from everyone but the owner: a read's policies then read its target. */
export const OWNER_HIDDEN = `@id("owner-hidden")
@notice("The owner is hidden.")
forbid (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)
when { resource.isOwner }
unless { principal.isOwner };
`;

/** Any admin of the tenant may change anyone's roles, admin included: escalation in one step. */
export const ADMINS_MANAGE = `@id("admins-manage")
permit (principal, action == Cedargate::Action::"users:update", resource is Cedargate::User)
when { principal.roles.contains(Cedargate::Role::"admin") && resource.tenant == principal.tenant };
`;
/** Invariants (policy check's YAML) {@link ADMINS_MANAGE} breaks one of. */
export const ONLY_OWNER_MAKES_ADMINS = `invariants:
  - id: owner-keeps-admin
    always: { user: owner, has: admin }
  - id: only-owner-makes-admins
    never: { request: { by: { not: owner }, adds: admin } }
`;

/**
 * A policy directory in a fresh temporary folder: `schema` and the named `.cedar` files, each
 * with its text from `texts`. The caller removes it.
 */
export function writePolicyDir(
  prefix: string,
  schema: string,
  files: readonly string[],
  texts: Readonly<Record<string, string>>,
): { path: string; remove: () => void } {
  const t = tempDir(prefix);
  writeFileSync(join(t.path, 'schema.cedarschema'), schema);
  for (const f of files) writeFileSync(join(t.path, f), texts[f] as string);
  return t;
}
