/**
 * The values the atom analysis (atoms.ts) computes with, the request as it reads them, and the
 * three ways an evaluation stops: a construct not modelled (at compile time), Cedar erring, or
 * Cedar answering from what is not modelled.
 */
import type { AuthzRequest, ParsedSchema } from '../types.js';

export class Entity {
  constructor(
    readonly t: string,
    readonly id: string,
  ) {}
}

/** The context: the one record a policy can read here. */
export class Rec {
  constructor(readonly attrs: Readonly<Record<string, Value>>) {}
}

export type Value = boolean | string | number | Entity | Rec | Value[];

/** The request as the evaluator reads it. */
export interface Env {
  principal: Entity;
  resource: Entity;
  action: Entity;
  context: Rec;
  request: AuthzRequest;
}

/** A compiled expression. */
export type Compiled = (env: Env) => Value;

/** Thrown at compile time: the construct the evaluator does not model. */
export class Unsupported extends Error {}
/**
 * Thrown at evaluation where Cedar errs as well (an attribute a `Tenant` or a missing context
 * attribute does not have, a type mismatch): no signature, Cedar decides (and names the error).
 */
export class CedarErrs extends Error {}
/** Thrown where Cedar answers from what the evaluator does not model: Cedar decides alone. */
export class Opaque extends Error {}

/**
 * The request as the evaluator reads it. Roles the schema does not declare (`known`) are read
 * as not held in the context, as the adapter leaves them out (known-roles.ts).
 */
export function envOf(
  request: AuthzRequest,
  schema: ParsedSchema,
  known: ReadonlySet<string>,
): Env {
  const { types } = schema;
  const r = request.resource;
  const kinds = schema.entityAttributes[request.action] ?? {};
  const context: Record<string, Value> = {};
  for (const [name, value] of Object.entries(request.context)) {
    const kind = kinds[name];
    if (kind?.kind === 'entitySet' && Array.isArray(value)) {
      const ids = kind.type === types.role ? value.filter((x: string) => known.has(x)) : value;
      context[name] = ids.map((id: string) => new Entity(kind.type, id));
    } else if (kind?.kind === 'entity' && typeof value === 'string') {
      context[name] = new Entity(kind.type, value);
    } else if (Array.isArray(value)) {
      context[name] = [...(value as readonly string[])];
    } else {
      context[name] = value as string | boolean;
    }
  }
  return {
    principal: new Entity(types.user, request.principal.id),
    resource: new Entity(r.type === 'User' ? types.user : types.tenant, r.id),
    action: new Entity(types.action, request.action),
    context: new Rec(context),
    request,
  };
}

export function entityOf(v: Value): Entity {
  if (!(v instanceof Entity)) throw new CedarErrs();
  return v;
}

export function setOf(v: Value): Value[] {
  if (!Array.isArray(v)) throw new CedarErrs();
  return v;
}

export function boolOf(v: Value): boolean {
  if (typeof v !== 'boolean') throw new CedarErrs();
  return v;
}

/** Cedar's `==`: sets as sets, entities by type and id; records are not compared here. */
export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    return a.every((x) => b.some((y) => equal(x, y))) && b.every((y) => a.some((x) => equal(x, y)));
  }
  if (a instanceof Entity && b instanceof Entity) return a.t === b.t && a.id === b.id;
  // `context == ...` compares records, which the evaluator does not: Cedar decides.
  if (a instanceof Rec || b instanceof Rec) throw new Opaque();
  return false;
}
