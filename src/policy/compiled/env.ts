/**
 * One request as the compiled decider's closures read it: the principal, action, resource and
 * context as values, and the request's entities — exactly the ones cedar-request.ts sends Cedar
 * in its full form: the principal and a target user (attributes `tenant`, `roles`, `isOwner`,
 * parent their tenant), their tenants (no attributes, no parents), and the schema's actions
 * (parents their groups). Any other entity does not exist.
 */
import type { AuthzRequest } from '../types.js';
import { CedarRecord, CedarSet, Entity, type Value } from './values.js';

/** The schema's names and the action hierarchy the environment is built with. */
export interface EnvSchema {
  userType: string;
  tenantType: string;
  roleType: string;
  actionType: string;
  /** Each role's entity, built once. */
  roleEntities: ReadonlyMap<string, Entity>;
  /** Each action's entity and its transitive groups (keys `id`). */
  actions: ReadonlyMap<string, { entity: Entity; ancestors: readonly Entity[] }>;
  /** Per action, per context attribute, how its value becomes a Cedar value. */
  contextKinds: ReadonlyMap<string, ReadonlyMap<string, ContextValueKind>>;
}

/** How a context value is read: a Boolean, a string, an entity or a set of them. */
export type ContextValueKind =
  | { kind: 'bool' | 'string' }
  | { kind: 'entity'; type: string }
  | { kind: 'set'; element: { kind: 'string' } | { kind: 'entity'; type: string } };

/** A user of the request, as an entity with its data. */
interface UserData {
  entity: Entity;
  attrs: ReadonlyMap<string, Value>;
  tenant: Entity;
}

/** What a closure evaluates against. */
export interface Env {
  principal: Entity;
  action: Entity;
  resource: Entity;
  context: CedarRecord;
  /** The attributes of an entity of the request, or undefined when it does not exist. */
  attrsOf(e: Entity): ReadonlyMap<string, Value> | undefined;
  /** Cedar's `a in b`: equal, or `b` is an ancestor of `a`. */
  isIn(a: Entity, b: Entity): boolean;
}

const NO_ATTRS: ReadonlyMap<string, Value> = new Map();

function userOf(
  s: EnvSchema,
  id: string,
  tenantId: string,
  roles: readonly string[],
  isOwner: boolean,
): UserData {
  const tenant = new Entity(s.tenantType, tenantId);
  const roleItems = roles.map((r) => s.roleEntities.get(r) ?? new Entity(s.roleType, r));
  return {
    entity: new Entity(s.userType, id),
    tenant,
    attrs: new Map<string, Value>([
      ['tenant', tenant],
      ['roles', new CedarSet(roleItems)],
      ['isOwner', isOwner],
    ]),
  };
}

/** The environment of a request the decider has checked (request-check.ts). */
export function envOf(s: EnvSchema, request: AuthzRequest): Env {
  const p = request.principal;
  const principal = userOf(s, p.id, p.tenantId, p.roles, p.isOwner);
  const r = request.resource;
  const target =
    r.type === 'User'
      ? r.id === p.id
        ? principal
        : userOf(s, r.id, r.tenantId, r.roles, r.isOwner)
      : null;
  const resource = target?.entity ?? new Entity(s.tenantType, r.id);
  const action = s.actions.get(request.action);
  if (action === undefined) throw new Error(`action ${request.action} is not compiled`);
  const userAt = (e: Entity): UserData | undefined =>
    e.type !== s.userType
      ? undefined
      : e.id === principal.entity.id
        ? principal
        : target !== null && e.id === target.entity.id
          ? target
          : undefined;
  const tenantExists = (id: string): boolean =>
    id === principal.tenant.id || (target === null ? id === r.id : id === target.tenant.id);
  return {
    principal: principal.entity,
    action: action.entity,
    resource,
    context: contextOf(s, request),
    attrsOf(e) {
      if (e.type === s.userType) return userAt(e)?.attrs;
      if (e.type === s.tenantType) return tenantExists(e.id) ? NO_ATTRS : undefined;
      if (e.type === s.actionType) return s.actions.has(e.id) ? NO_ATTRS : undefined;
      return undefined;
    },
    isIn(a, b) {
      if (a.id === b.id && a.type === b.type) return true;
      if (a.type === s.userType) {
        const tenant = userAt(a)?.tenant;
        return tenant !== undefined && b.type === tenant.type && b.id === tenant.id;
      }
      if (a.type === s.actionType) {
        const ancestors = s.actions.get(a.id)?.ancestors ?? [];
        return ancestors.some((g) => g.id === b.id && g.type === b.type);
      }
      return false;
    },
  };
}

function contextOf(s: EnvSchema, request: AuthzRequest): CedarRecord {
  const kinds = s.contextKinds.get(request.action);
  const attrs = new Map<string, Value>();
  for (const [name, value] of Object.entries(request.context)) {
    const kind = kinds?.get(name);
    if (kind === undefined) continue;
    attrs.set(name, contextValue(s, kind, value));
  }
  return new CedarRecord(attrs);
}

function contextValue(
  s: EnvSchema,
  kind: ContextValueKind,
  value: string | boolean | readonly string[],
): Value {
  switch (kind.kind) {
    case 'bool':
    case 'string':
      return value as string | boolean;
    case 'entity':
      return entityOf(s, kind.type, value as string);
    case 'set': {
      const el = kind.element;
      const items = value as readonly string[];
      return new CedarSet(
        el.kind === 'string' ? [...items] : items.map((id) => entityOf(s, el.type, id)),
      );
    }
  }
}

function entityOf(s: EnvSchema, type: string, id: string): Entity {
  return type === s.roleType
    ? (s.roleEntities.get(id) ?? new Entity(type, id))
    : new Entity(type, id);
}
