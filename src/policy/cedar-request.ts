/**
 * An {@link AuthzRequest} as the JSON Cedar's authorizer reads: the principal, action and
 * resource references, the context, and the entities (the principal, a target user, their
 * tenants). cedar-adapter.ts sends it; nothing else builds Cedar's JSON.
 */
import type { AuthzContext, AuthzRequest, ParsedSchema } from './types.js';

/** `{type, id}`: Cedar's entity reference. */
export interface EntityUidJson {
  type: string;
  id: string;
}

/** A value in Cedar's JSON: an entity reference, implicit or `__entity`, a set, a scalar. */
export type ValueJson =
  EntityUidJson | { __entity: EntityUidJson } | string | boolean | ValueJson[];

/** One entity in Cedar's JSON. */
export interface EntityJson {
  uid: EntityUidJson;
  attrs: Record<string, ValueJson>;
  parents: EntityUidJson[];
}

/** How entities and references are written: with tenant entities, as `__entity` or implicit. */
export interface EntityShape {
  tenants: boolean;
  implicit: boolean;
}

/** The principal, action, resource, context and entities of one Cedar call. */
export interface CedarRequestJson {
  principal: EntityUidJson;
  action: EntityUidJson;
  resource: EntityUidJson;
  context: Record<string, ValueJson>;
  entities: EntityJson[];
}

/** The Cedar call for `request` (its action must be in the schema). */
export function cedarRequestOf(
  schema: ParsedSchema,
  request: AuthzRequest,
  shape: EntityShape,
): CedarRequestJson {
  return {
    principal: { type: schema.types.user, id: request.principal.id },
    action: { type: schema.types.action, id: request.action },
    resource: resourceUid(schema, request),
    context: contextJson(schema, request.action, request.context, shape),
    entities: entitiesOf(schema, request, shape),
  };
}

function resourceUid(schema: ParsedSchema, request: AuthzRequest): EntityUidJson {
  const r = request.resource;
  return { type: r.type === 'User' ? schema.types.user : schema.types.tenant, id: r.id };
}

function entitiesOf(schema: ParsedSchema, request: AuthzRequest, shape: EntityShape): EntityJson[] {
  const { principal, resource } = request;
  const out: EntityJson[] = [];
  const tenants = new Set<string>([principal.tenantId]);
  // With a schema, Cedar reads `{type, id}` where an entity is declared (the implicit form) and
  // skips the `__entity` wrapper's escape handling.
  const ref = refMaker(shape);
  const user = (
    id: string,
    tenantId: string,
    roles: readonly string[],
    isOwner: boolean,
  ): EntityJson => ({
    uid: { type: schema.types.user, id },
    attrs: {
      tenant: ref(schema.types.tenant, tenantId),
      roles: roles.map((r) => ref(schema.types.role, r)),
      isOwner,
    },
    parents: shape.tenants ? [{ type: schema.types.tenant, id: tenantId }] : [],
  });
  out.push(user(principal.id, principal.tenantId, principal.roles, principal.isOwner));
  if (resource.type === 'User') {
    const entity = user(resource.id, resource.tenantId, resource.roles, resource.isOwner);
    // The same user as principal and resource is one entity; if the two disagree Cedar refuses
    // the duplicate, which denies.
    if (resource.id !== principal.id || JSON.stringify(entity) !== JSON.stringify(out[0]))
      out.push(entity);
    tenants.add(resource.tenantId);
  } else {
    tenants.add(resource.id);
  }
  if (shape.tenants) {
    for (const id of tenants)
      out.push({ uid: { type: schema.types.tenant, id }, attrs: {}, parents: [] });
  }
  return out;
}

function refMaker(shape: EntityShape): (type: string, id: string) => ValueJson {
  return shape.implicit ? (type, id) => ({ type, id }) : (type, id) => ({ __entity: { type, id } });
}

function contextJson(
  schema: ParsedSchema,
  action: string,
  context: AuthzContext,
  shape: EntityShape,
): Record<string, ValueJson> {
  const kinds = schema.entityAttributes[action] ?? {};
  const ref = refMaker(shape);
  const out: Record<string, ValueJson> = {};
  for (const [name, value] of Object.entries(context)) {
    const kind = kinds[name];
    if (kind?.kind === 'entitySet' && Array.isArray(value)) {
      out[name] = value.map((id: string) => ref(kind.type, id));
    } else if (kind?.kind === 'entity' && typeof value === 'string') {
      out[name] = ref(kind.type, value);
    } else {
      out[name] = Array.isArray(value)
        ? [...(value as readonly string[])]
        : (value as string | boolean);
    }
  }
  return out;
}
