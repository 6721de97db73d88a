/**
 * A policy's expressions (the typed EST, est.ts) as closures over the request the atom analysis
 * reads (atom-values.ts), with Cedar's order and short-circuits, for the forms it models: `&&`,
 * `||`, `!`, `if`, `==`, `!=`, `in`, `is`, `contains`, `containsAll`, `containsAny`,
 * `isEmpty()`, attributes of the principal, the resource and the context, and literals (Bool,
 * String, Long, entities, sets). Anything else throws {@link Unsupported} at compile time.
 */
import type { BinaryOp, EntityRef, EstValue, Expr, PolicyEst } from '../est.js';
import type { PrincipalOrResourceScope } from '../est.js';
import type { ParsedSchema } from '../types.js';
import { boolOf, CedarErrs, Entity, entityOf, equal, Opaque, Rec, setOf } from './atom-values.js';
import { Unsupported, type Compiled, type Env, type Value } from './atom-values.js';

/** The atoms of an expression: the leaves under its connectives (`&&`, `||`, `!`, `if`). */
export function leavesOf(e: Expr): Expr[] {
  if (e.op === '!') return leavesOf(e.arg);
  if (e.op === '&&' || e.op === '||') return [...leavesOf(e.left), ...leavesOf(e.right)];
  if (e.op === 'if') return [e.if, e.then, e.else].flatMap(leavesOf);
  return [e];
}

/** A policy's principal and resource scopes as expressions, those that constrain anything. */
export function scopeExprsOf(est: PolicyEst): Expr[] {
  const out: Expr[] = [];
  for (const slot of ['principal', 'resource'] as const) {
    const e = scopeExprOf(slot, est[slot]);
    if (e !== null) out.push(e);
  }
  return out;
}

function scopeExprOf(slot: 'principal' | 'resource', scope: PrincipalOrResourceScope): Expr | null {
  const left: Expr = { op: 'var', name: slot };
  const lit = (entity: EntityRef): Expr => ({ op: 'value', value: { kind: 'entity', entity } });
  switch (scope.op) {
    case 'All':
      return null;
    case '==':
    case 'in':
      return { op: scope.op, left, right: lit(scope.entity) };
    case 'is':
      return scope.in === undefined
        ? { op: 'is', left, entityType: scope.entityType }
        : { op: 'is', left, entityType: scope.entityType, in: lit(scope.in) };
    case 'slot':
      throw new Unsupported('uses a template slot, which the atom analysis does not model');
  }
}

/** The binary operators the analysis models. */
type ModelledBinary = Extract<
  BinaryOp,
  '&&' | '||' | '==' | '!=' | 'in' | 'contains' | 'containsAll' | 'containsAny'
>;

/** Compiles expressions under one schema. */
export class AtomCompiler {
  constructor(private readonly schema: ParsedSchema) {}

  /** `e` as a closure; throws {@link Unsupported} for what the analysis does not model. */
  compile(e: Expr): Compiled {
    switch (e.op) {
      case 'value': {
        const v = literalOf(e.value);
        return () => v;
      }
      case 'var':
        return varOf(e.name);
      case 'set': {
        const items = e.elements.map((x) => this.compile(x));
        return (env) => items.map((f) => f(env));
      }
      case '.': {
        const left = this.compile(e.left);
        const { attr } = e;
        return (env) => this.attribute(env, left(env), attr);
      }
      case '!': {
        const f = this.compile(e.arg);
        return (env) => !boolOf(f(env));
      }
      case 'isEmpty': {
        const f = this.compile(e.arg);
        return (env) => setOf(f(env)).length === 0;
      }
      case 'if': {
        const [i, t, f] = [this.compile(e.if), this.compile(e.then), this.compile(e.else)];
        return (env) => (boolOf(i(env)) ? t(env) : f(env));
      }
      case 'is':
        return this.compileIs(e);
      case '&&':
      case '||':
      case '==':
      case '!=':
      case 'in':
      case 'contains':
      case 'containsAll':
      case 'containsAny':
        return this.binary(e.op, this.compile(e.left), this.compile(e.right));
      default:
        throw new Unsupported(`uses \`${opNameOf(e)}\`, which the atom analysis does not model`);
    }
  }

  private compileIs(e: Extract<Expr, { op: 'is' }>): Compiled {
    const left = this.compile(e.left);
    const type = e.entityType;
    const inner = e.in === undefined ? null : this.compile(e.in);
    return (env) => {
      const x = entityOf(left(env));
      return x.t === type && (inner === null || this.isIn(env, x, inner(env)));
    };
  }

  /** Both operands are evaluated first (left, then right), except for `&&` and `||`. */
  private binary(op: ModelledBinary, l: Compiled, r: Compiled): Compiled {
    const both =
      (f: (a: Value, b: Value) => Value): Compiled =>
      (env) =>
        f(l(env), r(env));
    switch (op) {
      case '&&':
        return (env) => boolOf(l(env)) && boolOf(r(env));
      case '||':
        return (env) => boolOf(l(env)) || boolOf(r(env));
      case '==':
        return both((a, b) => equal(a, b));
      case '!=':
        return both((a, b) => !equal(a, b));
      case 'in':
        return (env) => this.isIn(env, l(env), r(env));
      case 'contains':
        return both((a, b) => setOf(a).some((x) => equal(x, b)));
      case 'containsAll':
        return both((a, b) => setOf(b).every((x) => setOf(a).some((y) => equal(x, y))));
      case 'containsAny':
        return both((a, b) => setOf(b).some((x) => setOf(a).some((y) => equal(x, y))));
    }
  }

  /** `User` attributes as the adapter sends them; nothing else is readable. */
  private attribute(env: Env, of: Value, attr: string): Value {
    if (of instanceof Rec) {
      const v = of.attrs[attr];
      if (v === undefined) throw new CedarErrs();
      return v;
    }
    const facts = this.factsOf(env, entityOf(of));
    const { types, roles } = this.schema;
    if (attr === 'tenant') return new Entity(types.tenant, facts.tenantId);
    if (attr === 'isOwner') return facts.isOwner;
    if (attr === 'roles')
      return facts.roles.filter((r) => roles.includes(r)).map((id) => new Entity(types.role, id));
    // An attribute the sidecar does not send: Cedar errs.
    throw new CedarErrs();
  }

  private factsOf(env: Env, e: Entity) {
    const { principal, resource } = env.request;
    // A tenant has no attributes and no parents: Cedar errs on an attribute of it.
    if (e.t === this.schema.types.tenant) throw new CedarErrs();
    if (e.t === this.schema.types.user && e.id === principal.id) {
      // The same id as resource with other facts: Cedar refuses the request; let it say so.
      if (resource.type === 'User' && resource.id === principal.id) {
        const same =
          resource.tenantId === principal.tenantId &&
          resource.isOwner === principal.isOwner &&
          resource.roles.join() === principal.roles.join();
        if (!same) throw new Opaque();
      }
      return principal;
    }
    if (e.t === this.schema.types.user && resource.type === 'User' && e.id === resource.id)
      return resource;
    // An entity the request does not carry (a literal `User::"x"`): Cedar decides.
    throw new Opaque();
  }

  /** `in` over the sidecar's hierarchy: a user's one parent is its tenant. */
  private isIn(env: Env, l: Value, r: Value): boolean {
    const e = entityOf(l);
    const targets = Array.isArray(r) ? r.map(entityOf) : [entityOf(r)];
    const { types } = this.schema;
    let ancestors: Entity[];
    if (e.t === types.user) ancestors = [new Entity(types.tenant, this.factsOf(env, e).tenantId)];
    else if (e.t === types.tenant || e.t === types.role) ancestors = [];
    // Actions (groups) and other types: not modelled here.
    else throw new Opaque();
    return targets.some((t) => equal(t, e) || ancestors.some((x) => equal(x, t)));
  }
}

/** The operator as Cedar's JSON names it, for the refusal. */
function opNameOf(e: Expr): string {
  if (e.op === 'call') return e.fn;
  if (e.op === 'record') return 'Record';
  if (e.op === 'slot') return 'Slot';
  return e.op;
}

function varOf(name: 'principal' | 'action' | 'resource' | 'context'): Compiled {
  switch (name) {
    case 'principal':
      return (env) => env.principal;
    case 'resource':
      return (env) => env.resource;
    case 'action':
      return (env) => env.action;
    case 'context':
      return (env) => env.context;
  }
}

function literalOf(v: EstValue): Value {
  switch (v.kind) {
    case 'bool':
    case 'string':
      return v.value;
    case 'long':
      // cedar-wasm hands over a Long beyond 2^53 rounded: equal to literals it is not.
      if (!v.exact) throw new Unsupported('holds a Long literal beyond 2^53');
      return v.value;
    case 'entity':
      return new Entity(v.entity.type, v.entity.id);
    case 'set':
      return v.elements.map(literalOf);
    default:
      throw new Unsupported('holds a literal the atom analysis cannot read');
  }
}
