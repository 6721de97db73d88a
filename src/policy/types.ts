/**
 * The authorization model as the sidecar sees it: who asks, what for, on what, with which
 * context, and the answer. Project types only: the Cedar adapter converts them at its edge.
 */
import type { SchemaJson, SchemaShapes } from './schema-json.js';

/** One Cedar action per route of the users API (contract §3, §5). */
export type UsersAction =
  'users:list' | 'users:read' | 'users:create' | 'users:update' | 'users:delete';

/** Every action, in route order. */
export const USERS_ACTIONS: readonly UsersAction[] = [
  'users:list',
  'users:read',
  'users:create',
  'users:update',
  'users:delete',
];

/** The kind of resource each action acts on: list and create act on the tenant. */
export const RESOURCE_KIND_OF: Readonly<Record<UsersAction, 'User' | 'Tenant'>> = {
  'users:list': 'Tenant',
  'users:read': 'User',
  'users:create': 'Tenant',
  'users:update': 'User',
  'users:delete': 'User',
};

/** The user behind the credential, as the backend knows it now. */
export interface PrincipalFacts {
  id: string;
  tenantId: string;
  roles: readonly string[];
  isOwner: boolean;
}

/** What the action acts on: a user (read, update, delete) or the tenant (list, create). */
export type ResourceFacts =
  | { type: 'User'; id: string; tenantId: string; roles: readonly string[]; isOwner: boolean }
  | { type: 'Tenant'; id: string };

/** The action's context, with the attributes the schema declares for it (see context.ts). */
export type AuthzContext = Record<string, string | boolean | readonly string[]>;

/** One authorization question. */
export interface AuthzRequest {
  principal: PrincipalFacts;
  action: UsersAction;
  resource: ResourceFacts;
  context: AuthzContext;
}

/** The answer to an {@link AuthzRequest}. */
export interface Decision {
  allowed: boolean;
  /**
   * `@id`s of the determining policies, sorted: the forbids that denied, or the permits that
   * allowed; [] when nothing permitted. A policy that ERRORED during evaluation denies and is
   * listed too.
   */
  policies: string[];
  /** `@notice` texts of the determining policies when denied, same order, no duplicates; [] when allowed. */
  notices: string[];
  /** Evaluation and failure errors, for logs. */
  errors: string[];
  /** True when answered from the decision cache. */
  cached: boolean;
  /**
   * Roles the principal or the resource holds that the schema's `Role` enum does not name (a
   * role retired from it): left out of the request, so the decision was made as if they were
   * not held. Sorted; absent when none. The decision line and a 403's details carry it.
   */
  ignoredRoles?: string[];
}

/** How a context attribute's value becomes Cedar JSON: an entity reference, or a set of them. */
export type ContextAttributeKind =
  { kind: 'entity'; type: string } | { kind: 'entitySet'; type: string };

/**
 * A schema that parsed, with what the engine needs to build requests for it (schema.ts). Only
 * schema.ts's `parseSchema` makes one: Cedar converts the text once, there, and every module that
 * reads the schema's declarations reads `json` or `shapes` instead of asking Cedar again.
 */
export interface ParsedSchema {
  text: string;
  /** Cedar's resolved JSON form of `text`, typed (schema-json.ts). */
  json: SchemaJson;
  /** The attributes of each entity type and each action's context, names fully qualified. */
  shapes: SchemaShapes;
  /** The `Role` enum, in declaration order. */
  roles: string[];
  /** Fully qualified entity type names, e.g. `Cedargate::User`. */
  types: { user: string; tenant: string; role: string; action: string };
  /** Per action, the context attributes whose values are entity references (roles, mostly). */
  entityAttributes: Record<string, Record<string, ContextAttributeKind>>;
}
