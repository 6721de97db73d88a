/**
 * Roles the schema no longer names, left out of a request before Cedar sees it.
 *
 * A role retired from the `Role` enum stays in the store on every user who held it. Cedar
 * refuses any request whose entities or context name an undeclared enum member, so without this
 * every request about such a user denied with no policy and no notice, the owner's included,
 * and nobody could repair the user. No policy can name a retired role (strict validation
 * refuses it), so leaving it out changes nothing a policy could have said about it: the user is
 * decided as if they did not hold it, and the decision lists what was left out so the decision
 * line and the 403 can say so.
 */
import { roleSetOf } from '../common/role-set.js';
import type { AuthzContext, AuthzRequest, PrincipalFacts, ResourceFacts } from './types.js';

/** The request without unknown roles, and the roles left out (sorted; [] when none). */
export interface KnownRolesRequest {
  request: AuthzRequest;
  ignoredRoles: string[];
}

/**
 * Leaves every role not in `known` out of the principal, the resource and the context
 * attributes named in `roleAttributes` (the context's role sets, e.g. `rolesRemoved`). Returns
 * the request itself when nothing was left out.
 */
export function leaveOutUnknownRoles(
  request: AuthzRequest,
  known: readonly string[],
  roleAttributes: readonly string[],
): KnownRolesRequest {
  const knownSet = roleSetOf(known);
  // Nearly every request holds known roles only: that one is checked without copying anything.
  if (allKnown(request, knownSet, roleAttributes)) return { request, ignoredRoles: [] };
  const ignored = new Set<string>();
  const keep = (roles: readonly string[]): readonly string[] => {
    if (roles.every((r) => knownSet.has(r))) return roles;
    for (const r of roles) if (!knownSet.has(r)) ignored.add(r);
    return roles.filter((r) => knownSet.has(r));
  };

  const principal: PrincipalFacts = { ...request.principal, roles: keep(request.principal.roles) };
  const resource: ResourceFacts =
    request.resource.type === 'User'
      ? { ...request.resource, roles: keep(request.resource.roles) }
      : request.resource;
  const context: AuthzContext = { ...request.context };
  for (const name of roleAttributes) {
    const value = context[name];
    if (Array.isArray(value)) context[name] = keep(value as readonly string[]);
  }
  return {
    request: { ...request, principal, resource, context },
    ignoredRoles: [...ignored].sort(),
  };
}

/** Whether every role of the principal, the resource and the context's role sets is known. */
function allKnown(
  request: AuthzRequest,
  knownSet: ReadonlySet<string>,
  roleAttributes: readonly string[],
): boolean {
  const known = (roles: readonly string[]) => roles.every((r) => knownSet.has(r));
  const { principal, resource, context } = request;
  if (!known(principal.roles)) return false;
  if (resource.type === 'User' && !known(resource.roles)) return false;
  for (const name of roleAttributes) {
    const value = context[name];
    if (Array.isArray(value) && !known(value as readonly string[])) return false;
  }
  return true;
}
