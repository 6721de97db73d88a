/**
 * The compiled decision path: a validated policy set turned, at load, into plain closures over
 * the project's own request type (no JSON, no entity conversion, no wasm), deciding exactly as
 * Cedar does through cedar-adapter.ts — decision, determining policies, notices, errors,
 * ignored roles. Cedar stays the parser, the validator and the judge:
 *
 * - a set using anything outside the supported grammar (expr.ts: `like`, extensions, records,
 *   tags, templates, Longs beyond 2^53) or a schema the decider does not model (schema-plan.ts)
 *   is not compiled: {@link compileDecider} says which construct, in which policy and where;
 * - a request Cedar would refuse as a whole, or that reads what is not modelled, is decided by
 *   the `fallback` (the wasm-backed set) instead, and counted.
 *
 * test/unit/policy/compiled/decider-differential.test.ts holds the two side by side.
 */
import { roleAttributesOf } from '../cedar-policy-set.js';
import type { PolicyMeta } from '../decision-combine.js';
import { decisionOf, type PolicyError } from '../decision-combine.js';
import type { ActionScope, PolicyEst, PrincipalOrResourceScope } from '../est.js';
import { leaveOutUnknownRoles } from '../known-roles.js';
import type { AuthzRequest, Decision, ParsedSchema } from '../types.js';
import { envOf, type Env, type EnvSchema } from './env.js';
import { compileExpr, Unsupported } from './expr.js';
import { askCedarBecause, type CheckSchema } from './request-check.js';
import { planSchema } from './schema-plan.js';
import { AskCedar, asBool, Entity, EvalError } from './values.js';

/** One policy to compile. */
export interface DeciderPolicy {
  est: PolicyEst;
  meta: PolicyMeta;
  /** Where it is written (`file:line`), for the unsupported message. */
  where?: string;
}

/** What {@link compileDecider} compiles. */
export interface DeciderInput {
  schema: ParsedSchema;
  /** Keyed by `@id`. */
  policies: Readonly<Record<string, DeciderPolicy>>;
  /** Decides what the compiled path hands back (the wasm-backed set's `authorize`). */
  fallback: (request: AuthzRequest) => Omit<Decision, 'cached'>;
}

/** A compiled set. */
export interface CompiledDecider {
  /** Decides one request as the wasm-backed set would. Never throws. */
  decide(request: AuthzRequest): Omit<Decision, 'cached'>;
  /** Requests decided here and handed to the fallback since compiling, by reason. */
  stats(): { compiled: number; fallbacks: Record<string, number> };
}

/** The decider, or the construct (with policy id and place) that keeps the set on Cedar. */
export type DeciderAnswer = { decider: CompiledDecider } | { unsupported: string };

/** One policy, compiled: its effect and whether it is satisfied (throws {@link EvalError}). */
interface CompiledPolicy {
  id: string;
  forbid: boolean;
  satisfied: (env: Env) => boolean;
}

/** Compiles `input`; never throws on an unsupported construct, says which instead. */
export function compileDecider(input: DeciderInput): DeciderAnswer {
  const plan = planSchema(input.schema);
  if (!plan.ok) return { unsupported: `the schema: ${plan.reason}` };
  const byAction = new Map<string, CompiledPolicy[]>();
  for (const action of plan.env.actions.keys()) byAction.set(action, []);
  for (const [id, p] of Object.entries(input.policies)) {
    let satisfied: (env: Env) => boolean;
    try {
      satisfied = compilePolicy(p.est);
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      const where = p.where === undefined ? '' : ` (${p.where})`;
      return { unsupported: `policy ${id}${where} uses ${err.message}` };
    }
    const compiled = { id, forbid: p.est.effect === 'forbid', satisfied };
    for (const [action, list] of byAction) {
      // Cedar evaluates the scope first: a false action scope stops it before anything can err.
      if (actionScopeMatches(p.est.action, action, plan.env)) list.push(compiled);
    }
  }
  const meta = Object.fromEntries(Object.entries(input.policies).map(([id, p]) => [id, p.meta]));
  return { decider: deciderOf(plan.env, plan.check, byAction, meta, input) };
}

function deciderOf(
  env: EnvSchema,
  check: CheckSchema,
  byAction: ReadonlyMap<string, CompiledPolicy[]>,
  meta: Record<string, PolicyMeta>,
  input: DeciderInput,
): CompiledDecider {
  const roleAttributes = roleAttributesOf(input.schema);
  const counts = { compiled: 0, fallbacks: {} as Record<string, number> };
  const fallback = (request: AuthzRequest, reason: string) => {
    counts.fallbacks[reason] = (counts.fallbacks[reason] ?? 0) + 1;
    return input.fallback(request);
  };
  return {
    decide(request) {
      const roles = roleAttributes[request.action] ?? [];
      const known = leaveOutUnknownRoles(request, input.schema.roles, roles);
      const why = askCedarBecause(check, known.request);
      if (why !== null) return fallback(request, why);
      let decision: Omit<Decision, 'cached'>;
      try {
        decision = evaluate(envOf(env, known.request), byAction.get(request.action) ?? [], meta);
      } catch (err) {
        return fallback(request, err instanceof AskCedar ? err.message : 'an internal error');
      }
      counts.compiled++;
      return known.ignoredRoles.length === 0
        ? decision
        : { ...decision, ignoredRoles: known.ignoredRoles };
    },
    stats: () => ({ compiled: counts.compiled, fallbacks: { ...counts.fallbacks } }),
  };
}

/** Every policy of the action, as one Cedar call over the set: errors skip a policy. */
function evaluate(
  env: Env,
  policies: readonly CompiledPolicy[],
  meta: Record<string, PolicyMeta>,
): Omit<Decision, 'cached'> {
  const forbids: string[] = [];
  const permits: string[] = [];
  const erred: PolicyError[] = [];
  for (const p of policies) {
    let satisfied: boolean;
    try {
      satisfied = p.satisfied(env);
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      erred.push({ policyId: p.id, error: err.message });
      continue;
    }
    if (satisfied) (p.forbid ? forbids : permits).push(p.id);
  }
  return decisionOf(forbids, permits, erred, meta);
}

/** The principal and resource scopes, then each `when` and `unless` in order. */
function compilePolicy(est: PolicyEst): (env: Env) => boolean {
  const principal = compileScope(est.principal, (env) => env.principal);
  const resource = compileScope(est.resource, (env) => env.resource);
  const conditions = est.conditions.map((c) => {
    const body = compileExpr(c.body);
    return c.kind === 'when' ? body : (env: Env) => !asBool(body(env));
  });
  return (env) => {
    if (principal !== null && !principal(env)) return false;
    if (resource !== null && !resource(env)) return false;
    for (const c of conditions) if (!asBool(c(env))) return false;
    return true;
  };
}

function compileScope(
  scope: PrincipalOrResourceScope,
  subject: (env: Env) => Entity,
): ((env: Env) => boolean) | null {
  switch (scope.op) {
    case 'All':
      return null;
    case '==': {
      const { type, id } = scope.entity;
      return (env) => {
        const e = subject(env);
        return e.id === id && e.type === type;
      };
    }
    case 'in': {
      const target = new Entity(scope.entity.type, scope.entity.id);
      return (env) => env.isIn(subject(env), target);
    }
    case 'is': {
      const { entityType } = scope;
      const within = scope.in === undefined ? null : new Entity(scope.in.type, scope.in.id);
      return (env) => {
        const e = subject(env);
        return e.type === entityType && (within === null || env.isIn(e, within));
      };
    }
    case 'slot':
      throw new Unsupported('a template slot');
  }
}

/** Whether the action scope holds for `action` (decided once, at compile time). */
function actionScopeMatches(scope: ActionScope, action: string, env: EnvSchema): boolean {
  const a = env.actions.get(action);
  if (a === undefined) return false;
  const matches = (t: { type: string; id: string }) =>
    (t.type === a.entity.type && t.id === a.entity.id) ||
    a.ancestors.some((g) => g.type === t.type && g.id === t.id);
  switch (scope.op) {
    case 'All':
      return true;
    case '==':
      return scope.entity.type === a.entity.type && scope.entity.id === a.entity.id;
    case 'in':
      return scope.entities.some(matches);
  }
}
