/**
 * Cedar expressions (est.ts) as closures over an {@link Env}, with Cedar's semantics: `&&`,
 * `||` and `if` short-circuit, an error stops the policy ({@link EvalError}, worded as Cedar
 * words it), `==` never errs, `in` reads the request's hierarchy. A construct outside the
 * supported grammar throws {@link Unsupported} at compile time, naming it.
 */
import type { EstValue, Expr } from '../est.js';
import type { Env } from './env.js';
import {
  asBool,
  asEntity,
  asLong,
  asSet,
  AskCedar,
  CedarRecord,
  CedarSet,
  checkedArith,
  checkedNeg,
  displayEntity,
  Entity,
  EvalError,
  setHas,
  valueEquals,
  type Value,
} from './values.js';

/** A compiled expression. */
export type Fn = (env: Env) => Value;

/** A construct the compiled decider does not evaluate: the set stays on Cedar (wasm). */
export class Unsupported extends Error {}

/** Compiles one expression; throws {@link Unsupported}. */
export function compileExpr(e: Expr): Fn {
  switch (e.op) {
    case 'value': {
      const v = literal(e.value);
      return () => v;
    }
    case 'var':
      return varFn(e.name);
    case '!': {
      const a = compileExpr(e.arg);
      return (env) => !asBool(a(env));
    }
    case 'neg': {
      const a = compileExpr(e.arg);
      return (env) => checkedNeg(asLong(a(env)));
    }
    case 'isEmpty': {
      const a = compileExpr(e.arg);
      return (env) => asSet(a(env)).items.length === 0;
    }
    case '&&':
    case '||':
      return connective(e.op, compileExpr(e.left), compileExpr(e.right));
    case '.':
      return attrFn(compileExpr(e.left), e.attr);
    case 'has':
      return hasFn(compileExpr(e.left), e.path);
    case 'is':
      return isFn(compileExpr(e.left), e.entityType, e.in === undefined ? null : compileExpr(e.in));
    case 'if': {
      const [c, t, f] = [compileExpr(e.if), compileExpr(e.then), compileExpr(e.else)];
      return (env) => (asBool(c(env)) ? t(env) : f(env));
    }
    case 'set': {
      const items = e.elements.map(compileExpr);
      return (env) => new CedarSet(items.map((f) => f(env)));
    }
    case 'slot':
      throw new Unsupported('a template slot');
    case 'like':
      throw new Unsupported('`like`');
    case 'record':
      throw new Unsupported('a record literal');
    case 'call':
      throw new Unsupported(`the extension function \`${e.fn}\``);
    default:
      return binary(e.op, compileExpr(e.left), compileExpr(e.right));
  }
}

function literal(v: EstValue): Value {
  switch (v.kind) {
    case 'bool':
    case 'string':
      return v.value;
    case 'long':
      // Past 2^53 the EST has already rounded the literal (est.ts): Cedar would see another.
      if (!v.exact) throw new Unsupported(`the Long literal ${v.value} (beyond 2^53)`);
      return BigInt(v.value);
    case 'entity':
      return new Entity(v.entity.type, v.entity.id);
    case 'set':
      return new CedarSet(v.elements.map(literal));
    case 'record':
      throw new Unsupported('a record literal');
    case 'extension':
      throw new Unsupported(`the extension value \`${v.fn}\``);
  }
}

function varFn(name: 'principal' | 'action' | 'resource' | 'context'): Fn {
  switch (name) {
    case 'principal':
      return (env) => env.principal;
    case 'action':
      return (env) => env.action;
    case 'resource':
      return (env) => env.resource;
    case 'context':
      return (env) => env.context;
  }
}

function connective(op: '&&' | '||', left: Fn, right: Fn): Fn {
  return op === '&&'
    ? (env) => asBool(left(env)) && asBool(right(env))
    : (env) => asBool(left(env)) || asBool(right(env));
}

/** The value of `left.attr`: an entity that does not exist errs as Cedar errs. */
function attrFn(left: Fn, attr: string): Fn {
  return (env) => {
    const v = left(env);
    if (v instanceof CedarRecord) {
      const out = v.attrs.get(attr);
      // The validator requires `has` before an optional attribute: Cedar decides otherwise.
      if (out === undefined) throw new AskCedar(`the record has no attribute ${attr}`);
      return out;
    }
    const e = asEntity(v);
    const attrs = env.attrsOf(e);
    if (attrs === undefined) throw new EvalError(`entity \`${displayEntity(e)}\` does not exist`);
    const out = attrs.get(attr);
    if (out === undefined) throw new AskCedar(`the entity has no attribute ${attr}`);
    return out;
  };
}

/** `left has a.b.c`: each step on what the previous one read; an entity that is absent has none. */
function hasFn(left: Fn, path: readonly string[]): Fn {
  return (env) => {
    let v = left(env);
    for (const attr of path) {
      const attrs = v instanceof CedarRecord ? v.attrs : env.attrsOf(asEntity(v));
      const next = attrs?.get(attr);
      if (next === undefined) return false;
      v = next;
    }
    return true;
  };
}

function isFn(left: Fn, type: string, within: Fn | null): Fn {
  return (env) => {
    const e = asEntity(left(env));
    if (e.type !== type) return false;
    return within === null ? true : inValue(env, e, within(env));
  };
}

/** Cedar's `e in x`, `x` an entity or a set of entities. */
function inValue(env: Env, e: Entity, x: Value): boolean {
  if (x instanceof Entity) return env.isIn(e, x);
  for (const item of asSet(x).items) if (env.isIn(e, asEntity(item))) return true;
  return false;
}

function binary(op: Exclude<Expr['op'], 'value' | 'var' | 'slot'>, left: Fn, right: Fn): Fn {
  switch (op) {
    case '==':
      return (env) => valueEquals(left(env), right(env));
    case '!=':
      return (env) => !valueEquals(left(env), right(env));
    case 'in':
      return (env) => {
        const e = asEntity(left(env));
        return inValue(env, e, right(env));
      };
    case '<':
      return (env) => asLong(left(env)) < asLong(right(env));
    case '<=':
      return (env) => asLong(left(env)) <= asLong(right(env));
    case '>':
      return (env) => asLong(left(env)) > asLong(right(env));
    case '>=':
      return (env) => asLong(left(env)) >= asLong(right(env));
    case '+':
    case '-':
    case '*':
      return (env) => checkedArith(op, asLong(left(env)), asLong(right(env)));
    default:
      return setOp(op, left, right);
  }
}

function setOp(op: string, left: Fn, right: Fn): Fn {
  switch (op) {
    case 'contains':
      return (env) => setHas(asSet(left(env)), right(env));
    case 'containsAll':
      return (env) => {
        const [l, r] = [asSet(left(env)), asSet(right(env))];
        return r.items.every((x) => setHas(l, x));
      };
    case 'containsAny':
      return (env) => {
        const [l, r] = [asSet(left(env)), asSet(right(env))];
        return r.items.some((x) => setHas(l, x));
      };
    default:
      throw new Unsupported(`\`${op}\``);
  }
}
