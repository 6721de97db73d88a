/**
 * Random authorization requests for property tests: the shapes the sidecar builds (contexts from
 * the sidecar's own builders), over small id pools so that equal ids are frequent.
 */
import fc from 'fast-check';
import { buildCreateContext, buildUpdateContext } from '../../src/policy/context.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS, type AuthzRequest } from '../../src/policy/types.js';

export function authzRequestArb(pools: {
  userIds: readonly string[];
  tenantIds: readonly string[];
  roles: readonly string[];
}): fc.Arbitrary<AuthzRequest> {
  const roleSet = fc.subarray([...pools.roles]);
  const userId = fc.constantFrom(...pools.userIds);
  const tenantId = fc.constantFrom(...pools.tenantIds);
  return fc
    .record({
      action: fc.constantFrom(...USERS_ACTIONS),
      p: userId,
      pt: tenantId,
      pRoles: roleSet,
      pOwner: fc.boolean(),
      same: fc.boolean(),
      r: userId,
      rt: tenantId,
      rRoles: roleSet,
      rOwner: fc.boolean(),
      t: tenantId,
      requested: fc.option(roleSet, { nil: undefined }),
      name: fc.boolean(),
      avatar: fc.boolean(),
    })
    .map((x): AuthzRequest => {
      const principal = { id: x.p, tenantId: x.pt, roles: x.pRoles, isOwner: x.pOwner };
      const target = x.same
        ? { ...principal }
        : { id: x.r, tenantId: x.rt, roles: x.rRoles, isOwner: x.rOwner };
      const context =
        x.action === 'users:update'
          ? buildUpdateContext(
              { name: 'n', roles: target.roles, avatar_digest: null },
              {
                ...(x.requested === undefined ? {} : { roles: x.requested }),
                ...(x.name ? { name: 'm' } : {}),
                ...(x.avatar ? { avatar: 'data:image/png;base64,AA==' } : {}),
              },
            )
          : x.action === 'users:create'
            ? buildCreateContext({ roles: x.requested ?? [] })
            : {};
      return {
        principal,
        action: x.action,
        resource:
          RESOURCE_KIND_OF[x.action] === 'User'
            ? { type: 'User', ...target }
            : { type: 'Tenant', id: x.t },
        context,
      };
    });
}

/**
 * `arb`'s requests, a quarter of the updates with a context field the schema does not declare
 * (`bogus`): Cedar refuses such a request, and every engine under test must deny it alike.
 */
export function withUndeclaredContext(arb: fc.Arbitrary<AuthzRequest>): fc.Arbitrary<AuthzRequest> {
  return fc
    .tuple(
      arb,
      fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
    )
    .map(([request, bogus]) =>
      bogus && request.action === 'users:update'
        ? { ...request, context: { ...request.context, bogus: true } }
        : request,
    );
}

/**
 * A bijection on `ids` that fixes `literals` (ids a policy names) and sends the others onto
 * distinct ids: fresh uuids, or with `images` a shuffle of that pool (which may hold the ids
 * themselves, so that renamings swap ids too): the renamings under which a decision must not
 * change.
 */
export function idRenamingArb(
  ids: readonly string[],
  literals: ReadonlySet<string>,
  images?: readonly string[],
): fc.Arbitrary<Map<string, string>> {
  const pool = images?.filter((i) => !literals.has(i));
  const drawn =
    pool === undefined
      ? fc.uniqueArray(fc.uuid(), { minLength: ids.length, maxLength: ids.length })
      : fc.shuffledSubarray([...pool], { minLength: ids.length, maxLength: ids.length });
  return drawn.map((picked) => {
    const map = new Map<string, string>();
    ids.forEach((id, i) => map.set(id, literals.has(id) ? id : (picked[i] as string)));
    return map;
  });
}

/** `request` with its user and tenant ids renamed (ids missing from a map stay as they are). */
export function renameIds(
  request: AuthzRequest,
  users: ReadonlyMap<string, string>,
  tenants: ReadonlyMap<string, string>,
): AuthzRequest {
  const u = (id: string) => users.get(id) ?? id;
  const t = (id: string) => tenants.get(id) ?? id;
  const r = request.resource;
  return {
    ...request,
    principal: {
      ...request.principal,
      id: u(request.principal.id),
      tenantId: t(request.principal.tenantId),
    },
    resource:
      r.type === 'User'
        ? { ...r, id: u(r.id), tenantId: t(r.tenantId) }
        : { type: 'Tenant' as const, id: t(r.id) },
  };
}
