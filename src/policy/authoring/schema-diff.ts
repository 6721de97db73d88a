/**
 * What differs between two sets' schemas, stated before any decision class of `policy diff`
 * or `policy replay`, and which requests only one side's API accepts.
 *
 * The API answers 422 (`invalid_roles`) for a body that asks for a role its schema does not
 * name, so a request asking for a role one side lacks never reaches that side's policies:
 * comparing its two decisions reads as a regression that cannot happen. A role only the
 * candidate declares cannot be held by anyone under the base either (it could never be
 * assigned there), so every request that carries it is out of the base's reach. A role only
 * the base declares is a retired role under the candidate: a body asking for it is refused,
 * but users who still hold it are decided as if they did not (known-roles.ts) — a real change,
 * left in the classes.
 */
import type { SchemaType } from '../cedar-adapter.js';
import { describeType } from '../request-abstraction.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';

/** The context attributes the API fills from the request body (context.ts). */
export const BODY_ROLE_ATTRIBUTES: readonly string[] = ['rolesRequested'];

/** One difference of the two schemas. */
export interface SchemaDifference {
  /** `role-added`: the candidate declares it, the base does not; `role-removed`: the reverse. */
  kind: 'role-added' | 'role-removed' | 'attribute' | 'action';
  /** The role, for the role kinds. */
  role?: string;
  /** One line for a reader. */
  text: string;
  /** Requests only one side's API accepts because of it, kept out of the decision classes. */
  requests: number;
  /** One of them, the first met; null when none. */
  example: AuthzRequest | null;
  /**
   * What carrying the role changes in the answer of the side that accepts these requests,
   * compared with the same request without it (which both APIs accept): for a role added, what
   * holding or asking for it gives or takes. Empty when it changes nothing.
   */
  effects: RoleEffect[];
}

/** One-sided requests of one action whose accepting side answers alike, with and without the role. */
export interface RoleEffect {
  action: AuthzRequest['action'];
  /** The accepting side's answer to the request. */
  with: { decision: 'allow' | 'deny'; policies: string[] };
  /** Its answer to the same request without the role. */
  without: { decision: 'allow' | 'deny'; policies: string[] };
  count: number;
  example: AuthzRequest;
}

type Answer = RoleEffect['with'];

/**
 * Adds `weight` requests like `request` to `d.effects` when the accepting side answers it
 * (`withRole`) otherwise than the same request without the role (`withoutRole`).
 */
export function countEffect(
  d: SchemaDifference,
  request: AuthzRequest,
  withRole: Answer,
  withoutRole: Answer,
  weight: number,
): void {
  if (withRole.decision === withoutRole.decision) return;
  const answer = (a: Answer) => [a.decision, a.policies];
  const key = JSON.stringify([request.action, answer(withRole), answer(withoutRole)]);
  let g = d.effects.find(
    (x) => JSON.stringify([x.action, answer(x.with), answer(x.without)]) === key,
  );
  if (g === undefined) {
    g = {
      action: request.action,
      with: { decision: withRole.decision, policies: [...withRole.policies] },
      without: { decision: withoutRole.decision, policies: [...withoutRole.policies] },
      count: 0,
      example: request,
    };
    d.effects.push(g);
  }
  g.count += weight;
}

/** The request without `role` anywhere (principal, resource, every context role set). */
export function withoutRole(request: AuthzRequest, role: string): AuthzRequest {
  const drop = (roles: readonly string[]) => roles.filter((r) => r !== role);
  const context: AuthzRequest['context'] = {};
  for (const [k, v] of Object.entries(request.context))
    context[k] = Array.isArray(v) ? drop(v as readonly string[]) : v;
  return {
    ...request,
    principal: { ...request.principal, roles: drop(request.principal.roles) },
    resource:
      request.resource.type === 'User'
        ? { ...request.resource, roles: drop(request.resource.roles) }
        : request.resource,
    context,
  };
}

/** The differences of the two schemas, roles first (in declaration order), counts at 0. */
export function schemaDifferencesOf(
  base: ParsedSchema,
  candidate: ParsedSchema,
): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const none = () => ({ requests: 0, example: null, effects: [] });
  for (const role of candidate.roles.filter((r) => !base.roles.includes(r)))
    out.push({
      kind: 'role-added',
      role,
      text:
        `role \`${role}\` added: requests that carry it are refused (422) by the base API ` +
        `(a body cannot ask for it there, and no user can hold it there)`,
      ...none(),
    });
  for (const role of base.roles.filter((r) => !candidate.roles.includes(r)))
    out.push({
      kind: 'role-removed',
      role,
      text:
        `role \`${role}\` removed: requests whose body asks for it are refused (422) by the ` +
        `candidate API; users who still hold it are decided by the candidate as if they did not ` +
        `(a retired role), and those changes are in the classes`,
      ...none(),
    });
  if (base.text === candidate.text) return out;
  const [b, c] = [base.shapes, candidate.shapes];
  const attributes = (
    what: string,
    before: Record<string, SchemaType> | undefined,
    after: Record<string, SchemaType> | undefined,
  ) => {
    const [x, y] = [before ?? {}, after ?? {}];
    for (const name of Object.keys(y).filter((n) => !(n in x)))
      out.push({ kind: 'attribute', text: `${what} \`${name}\` added`, ...none() });
    for (const name of Object.keys(x).filter((n) => !(n in y)))
      out.push({ kind: 'attribute', text: `${what} \`${name}\` removed`, ...none() });
    for (const name of Object.keys(x).filter((n) => n in y)) {
      const [tx, ty] = [describeType(x[name] as SchemaType), describeType(y[name] as SchemaType)];
      if (tx !== ty)
        out.push({
          kind: 'attribute',
          text: `${what} \`${name}\`: ${tx} → ${ty}`,
          ...none(),
        });
    }
  };
  attributes(
    'User attribute',
    b.entities[base.types.user]?.attributes,
    c.entities[candidate.types.user]?.attributes,
  );
  for (const action of Object.keys(c.contexts).filter((a) => !(a in b.contexts)))
    out.push({ kind: 'action', text: `action \`${action}\` added`, ...none() });
  for (const action of Object.keys(b.contexts).filter((a) => !(a in c.contexts)))
    out.push({ kind: 'action', text: `action \`${action}\` removed`, ...none() });
  for (const action of Object.keys(b.contexts).filter((a) => a in c.contexts))
    attributes(`${action}: context`, b.contexts[action], c.contexts[action]);
  return out;
}

/** The roles one side declares and the other does not. */
export function oneSidedRoles(differences: readonly SchemaDifference[]): string[] {
  return differences.flatMap((d) => (d.role === undefined ? [] : [d.role]));
}

/**
 * The role difference that keeps `request` from one side's policies, or null when both APIs
 * accept it: a role only the candidate declares, anywhere in the request; a role only the base
 * declares, in what the body asks for.
 */
export function oneSidedBy(
  request: AuthzRequest,
  differences: readonly SchemaDifference[],
): SchemaDifference | null {
  for (const d of differences) {
    if (d.role === undefined) continue;
    const role = d.role;
    if (d.kind === 'role-added' && carries(request, role)) return d;
    if (d.kind === 'role-removed' && asksFor(request, role)) return d;
  }
  return null;
}

/** Whether any role set of the request (principal, resource, context) names `role`. */
export function carries(request: AuthzRequest, role: string): boolean {
  if (request.principal.roles.includes(role)) return true;
  if (request.resource.type === 'User' && request.resource.roles.includes(role)) return true;
  return Object.values(request.context).some((v) => Array.isArray(v) && v.includes(role));
}

/** Whether the request's body asks for `role` (BODY_ROLE_ATTRIBUTES). */
export function asksFor(request: AuthzRequest, role: string): boolean {
  return BODY_ROLE_ATTRIBUTES.some((k) => {
    const v = request.context[k];
    return Array.isArray(v) && v.includes(role);
  });
}
