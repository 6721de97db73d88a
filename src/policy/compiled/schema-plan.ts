/**
 * What the compiled decider needs of the schema, read from its typed JSON form (schema-json.ts),
 * and the schemas it refuses. It models the entities cedar-request.ts sends: a `User` with
 * exactly `tenant: Tenant`, `roles: Set<Role>` and `isOwner: Bool` (any other attribute optional,
 * and so absent), parent its `Tenant`; a `Tenant` with no attributes. A schema where Cedar
 * would refuse those entities, or read tags, keeps the set on Cedar.
 */
import type { SchemaEntityType, SchemaJson, SchemaType } from '../schema-json.js';
import type { ParsedSchema } from '../types.js';
import type { ContextValueKind, EnvSchema } from './env.js';
import type { ActionCheck, CheckSchema } from './request-check.js';
import { Entity } from './values.js';

/** The schema's plan, or why the decider cannot model it. */
export type SchemaPlan =
  { ok: true; env: EnvSchema; check: CheckSchema } | { ok: false; reason: string };

const TYPE_TEXT = (t: SchemaType): string => JSON.stringify(t);

/** Reads the plan of `schema` from its typed JSON. */
export function planSchema(schema: ParsedSchema): SchemaPlan {
  const { json } = schema;
  const { user, tenant, role, action } = schema.types;
  const ns = user.includes('::') ? user.slice(0, user.lastIndexOf('::')) : '';
  const def = json[ns];
  const local = (q: string) => q.slice(ns === '' ? 0 : ns.length + 2);
  const u = def?.entityTypes[local(user)];
  const t = def?.entityTypes[local(tenant)];
  if (def === undefined || u?.kind !== 'standard' || t?.kind !== 'standard') {
    return { ok: false, reason: 'the schema has no standard User and Tenant' };
  }
  const refused = entityProblem(u, t, schema.types);
  if (refused !== null) return { ok: false, reason: refused };
  const enums = new Map<string, ReadonlySet<string>>();
  for (const [space, d] of Object.entries(json)) {
    for (const [name, e] of Object.entries(d.entityTypes)) {
      if (e.kind === 'enum')
        enums.set(space === '' ? name : `${space}::${name}`, new Set(e.members));
    }
  }
  const env: EnvSchema = {
    userType: user,
    tenantType: tenant,
    roleType: role,
    actionType: action,
    roleEntities: new Map(schema.roles.map((r) => [r, new Entity(role, r)])),
    actions: actionHierarchy(json, ns, action),
    contextKinds: new Map(),
  };
  const actions = new Map<string, ActionCheck>();
  for (const [id, a] of Object.entries(def.actions)) {
    if (a.appliesTo === null || a.appliesTo.context === null) continue;
    const context = new Map<string, { kind: ContextValueKind | null; required: boolean }>();
    const kinds = new Map<string, ContextValueKind>();
    for (const [name, attr] of Object.entries(a.appliesTo.context)) {
      const kind = contextKindOf(attr.type);
      context.set(name, { kind, required: attr.required });
      if (kind !== null) kinds.set(name, kind);
    }
    (env.contextKinds as Map<string, ReadonlyMap<string, ContextValueKind>>).set(id, kinds);
    actions.set(id, {
      principalTypes: new Set(a.appliesTo.principalTypes),
      resourceTypes: new Set(a.appliesTo.resourceTypes),
      context,
    });
  }
  return { ok: true, env, check: { userType: user, tenantType: tenant, enums, actions } };
}

type StandardType = Extract<SchemaEntityType, { kind: 'standard' }>;

/** Why Cedar would refuse, or read beyond, the User and Tenant entities the sidecar sends. */
function entityProblem(
  u: StandardType,
  t: StandardType,
  { tenant, role }: ParsedSchema['types'],
): string | null {
  if (!u.memberOfTypes.includes(tenant)) return 'User is not `in [Tenant]`';
  if (u.tags !== null || t.tags !== null) {
    return 'the schema declares tags on User or Tenant';
  }
  if (Object.keys(t.attributes).length > 0) {
    return 'the schema declares attributes on Tenant';
  }
  const expected: Record<string, string> = {
    tenant: TYPE_TEXT({ kind: 'Entity', name: tenant }),
    roles: TYPE_TEXT({ kind: 'Set', element: { kind: 'Entity', name: role } }),
    isOwner: TYPE_TEXT({ kind: 'Bool' }),
  };
  for (const name of Object.keys(expected)) {
    const a = u.attributes[name];
    if (a === undefined || !a.required || TYPE_TEXT(a.type) !== expected[name]) {
      return `User's attribute \`${name}\` is not the one the sidecar sends`;
    }
  }
  for (const [name, a] of Object.entries(u.attributes)) {
    if (a.required && !(name in expected)) {
      return `User's required attribute \`${name}\` is never sent`;
    }
  }
  return null;
}

/** How a context attribute of type `t` is read from an `AuthzContext`; null: never sent. */
function contextKindOf(t: SchemaType): ContextValueKind | null {
  if (t.kind === 'Bool') return { kind: 'bool' };
  if (t.kind === 'String') return { kind: 'string' };
  if (t.kind === 'Entity') return { kind: 'entity', type: t.name };
  if (t.kind === 'Set' && t.element.kind === 'String') {
    return { kind: 'set', element: { kind: 'string' } };
  }
  if (t.kind === 'Set' && t.element.kind === 'Entity') {
    return { kind: 'set', element: { kind: 'entity', type: t.element.name } };
  }
  return null;
}

/** The namespace's actions, each with its groups' closure (groups of other namespaces kept). */
function actionHierarchy(
  json: SchemaJson,
  ns: string,
  actionType: string,
): Map<string, { entity: Entity; ancestors: Entity[] }> {
  const parents = new Map<string, Entity[]>();
  const key = (e: Entity) => `${e.type}\u0000${e.id}`;
  for (const [space, d] of Object.entries(json)) {
    const type = space === '' ? 'Action' : `${space}::Action`;
    for (const [id, a] of Object.entries(d.actions)) {
      parents.set(
        key(new Entity(type, id)),
        a.memberOf.map((m) => new Entity(m.type === '' ? type : m.type, m.id)),
      );
    }
  }
  const out = new Map<string, { entity: Entity; ancestors: Entity[] }>();
  for (const id of Object.keys(json[ns]?.actions ?? {})) {
    const entity = new Entity(actionType, id);
    const seen = new Map<string, Entity>();
    const stack = [...(parents.get(key(entity)) ?? [])];
    for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
      if (seen.has(key(e))) continue;
      seen.set(key(e), e);
      stack.push(...(parents.get(key(e)) ?? []));
    }
    out.set(id, { entity, ancestors: [...seen.values()] });
  }
  return out;
}
