/**
 * Whether Cedar would accept a request as cedar-request.ts writes it, checked without Cedar.
 * Cedar validates a request against the schema (`validateRequest`) and its entities too, and
 * refuses it as a whole, with its own wording, when they do not conform. The compiled decider
 * does not reproduce those refusals: a request that would meet one is handed to Cedar, and so
 * is one whose ids are not well-formed UTF-16 (Cedar would see other ids than JS does).
 */
import type { AuthzRequest } from '../types.js';
import type { ContextValueKind } from './env.js';

/** What the check needs of one action. */
export interface ActionCheck {
  principalTypes: ReadonlySet<string>;
  resourceTypes: ReadonlySet<string>;
  /** Each declared context attribute: how it is read (null: a type never sent), and whether required. */
  context: ReadonlyMap<string, { kind: ContextValueKind | null; required: boolean }>;
}

/** What the check needs of the schema. */
export interface CheckSchema {
  userType: string;
  tenantType: string;
  /** Members of each enum entity type. */
  enums: ReadonlyMap<string, ReadonlySet<string>>;
  actions: ReadonlyMap<string, ActionCheck>;
}

/** Why Cedar must decide `request` itself, or null when the compiled decider answers exactly. */
export function askCedarBecause(s: CheckSchema, request: AuthzRequest): string | null {
  const action = s.actions.get(request.action);
  if (action === undefined) return 'an action the compiled set does not know';
  const { principal: p, resource: r } = request;
  if (!action.principalTypes.has(s.userType)) return 'a principal type the action refuses';
  if (!action.resourceTypes.has(r.type === 'User' ? s.userType : s.tenantType)) {
    return 'a resource type the action refuses';
  }
  if (!wellFormed(p.id) || !wellFormed(p.tenantId) || !wellFormed(r.id)) return 'an ill-formed id';
  if (r.type === 'User') {
    if (!wellFormed(r.tenantId)) return 'an ill-formed id';
    // One user as both: Cedar gets one entity, or refuses two that disagree (cedar-request.ts).
    if (
      r.id === p.id &&
      (r.tenantId !== p.tenantId ||
        r.isOwner !== p.isOwner ||
        r.roles.length !== p.roles.length ||
        r.roles.some((role, i) => role !== p.roles[i]))
    ) {
      return 'the same user as principal and resource, with other facts';
    }
  }
  return contextProblem(s, action, request.context);
}

function contextProblem(
  s: CheckSchema,
  action: ActionCheck,
  context: AuthzRequest['context'],
): string | null {
  let present = 0;
  for (const [name, value] of Object.entries(context)) {
    const spec = action.context.get(name);
    if (spec === undefined) return `an undeclared context attribute`;
    if (spec.kind === null || !conforms(s, spec.kind, value)) {
      return `a context attribute of another type than declared`;
    }
    if (spec.required) present++;
  }
  let required = 0;
  for (const spec of action.context.values()) if (spec.required) required++;
  return present === required ? null : 'a required context attribute missing';
}

function conforms(
  s: CheckSchema,
  kind: ContextValueKind,
  value: string | boolean | readonly string[],
): boolean {
  switch (kind.kind) {
    case 'bool':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string' && wellFormed(value);
    case 'entity':
      return typeof value === 'string' && entityIdOk(s, kind.type, value);
    case 'set': {
      if (!Array.isArray(value)) return false;
      const el = kind.element;
      return (value as readonly string[]).every((v) =>
        el.kind === 'string' ? wellFormed(v) : entityIdOk(s, el.type, v),
      );
    }
  }
}

function entityIdOk(s: CheckSchema, type: string, id: string): boolean {
  const members = s.enums.get(type);
  return typeof id === 'string' && wellFormed(id) && (members === undefined || members.has(id));
}

/** No lone surrogate (Node ≥ 20 has `isWellFormed`; the TS lib here predates it). */
function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}
