/**
 * The walk-through of docs/policies.md (issue 27): a role `support` that may read and rename the
 * users of its tenant, and nothing else — the shipped schema with the role added, and its rules.
 */
import assert from 'node:assert/strict';

/** The shipped schema's Role enum, as the tests that add a role find it. */
export const SHIPPED_ROLE_ENUM = 'entity Role enum ["admin", "user", "viewer"];';

/** `schema` (the shipped one) with its Role enum replaced by `roles`. */
export function withRoleEnum(schema: string, roles: readonly string[]): string {
  assert.ok(schema.includes(SHIPPED_ROLE_ENUM), 'the shipped schema declares the enum edited here');
  const list = roles.map((r) => JSON.stringify(r)).join(', ');
  return schema.replace(SHIPPED_ROLE_ENUM, `entity Role enum [${list}];`);
}

/** The shipped schema with `support` added to the Role enum. */
export const withSupportRole = (schema: string): string =>
  withRoleEnum(schema, ['admin', 'user', 'viewer', 'support']);

/** Support may read and rename the users of its own tenant (`support.cedar`). */
export const SUPPORT_POLICIES = `// Support may read the users of its own tenant and rename them, and nothing else.
@id("support-reads-users")
permit (
  principal,
  action == Cedargate::Action::"users:read",
  resource is Cedargate::User
)
when
{
  principal.roles.contains(Cedargate::Role::"support") &&
  resource.tenant == principal.tenant
};

@id("support-renames-users")
permit (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when
{
  principal.roles.contains(Cedargate::Role::"support") &&
  resource.tenant == principal.tenant &&
  context.rolesAdded.isEmpty() &&
  context.rolesRemoved.isEmpty() &&
  !context.avatarChanges
};
`;

/**
 * `admins.cedar` (the shipped one) weakened as in the diff's worked example: without
 * `context.rolesRemoved.contains(…"admin")`, a non-owner admin may revoke admin.
 */
export function weakenedAdmins(text: string): string {
  const weakened = text.replace(
    /\|\|\s*context\.rolesRemoved\.contains\(Cedargate::Role::"admin"\)/,
    '',
  );
  assert.notEqual(weakened, text, 'admins.cedar holds the clause the weakening drops');
  return weakened;
}
