/**
 * One policy's parts on one request, each evaluated apart by the atom analysis (atoms.ts): its
 * scope, then each `when`/`unless` body and the value of each of its atoms as Cedar's
 * short-circuits reach them. What a reader wants of one policy (which clause was false:
 * explain; which atoms were seen true and false: coverage) rather than the set's signature.
 */
import { actionScopeHolds } from '../call-shape.js';
import type { Expr, PolicyEst } from '../est.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';
import { AtomCompiler, scopeExprsOf } from './atom-compiler.js';
import { boolOf, CedarErrs, envOf, Opaque, Unsupported } from './atom-values.js';
import type { Compiled, Env, Value } from './atom-values.js';
import { actionShapeOf } from './atoms.js';

/** A policy's parts on one request, each evaluated apart; null where Cedar errs or this cannot tell. */
export interface ClauseValues {
  /** Principal, action and resource scope together. */
  scope: boolean | null;
  /**
   * Each `when`/`unless` body as written (an `unless` body's own value, not negated), and the
   * value of each of its atoms as Cedar's short-circuits reach them (undefined: not reached).
   */
  conditions: { value: boolean | null; atoms: (boolean | null | undefined)[] }[];
}

/** Per policy id, its evaluator and each condition's atoms, or why there is none. */
export type ClauseEvaluators = Record<
  string,
  | { ok: true; atoms: Expr[][]; evaluate: (request: AuthzRequest) => ClauseValues }
  | { ok: false; reason: string }
>;

/** A condition that writes the value of each atom it evaluates into `seen`, by atom index. */
type Observed = (env: Env, seen: (boolean | null | undefined)[]) => Value;

/** A policy's scope and conditions, compiled. */
interface CompiledClauses {
  scope: Compiled[];
  atoms: Expr[][];
  conditions: Observed[];
}

/**
 * Compiles each policy of `trees` into its parts (scope, then each condition body and its
 * atoms). A policy this module cannot read is refused alone. `groups` as for atoms.ts
 * `compileSigner`.
 */
export function compileClauses(
  trees: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
  groups: readonly string[],
): ClauseEvaluators {
  const c = new AtomCompiler(schema);
  const shape = actionShapeOf(schema, groups);
  const known = new Set(schema.roles);
  const out: ClauseEvaluators = {};
  for (const [id, est] of Object.entries(trees)) {
    let compiled: CompiledClauses;
    try {
      compiled = compileParts(c, est);
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      out[id] = { ok: false, reason: err.message };
      continue;
    }
    const evaluate = (request: AuthzRequest): ClauseValues => {
      const holds = actionScopeHolds(est.action, request.action, shape);
      return valuesOf(compiled, holds, envOf(request, schema, known));
    };
    out[id] = { ok: true, atoms: compiled.atoms, evaluate };
  }
  return out;
}

function compileParts(c: AtomCompiler, est: PolicyEst): CompiledClauses {
  const scope = scopeExprsOf(est).map((e) => c.compile(e));
  const atoms: Expr[][] = [];
  const conditions = est.conditions.map((x) => {
    const own: Expr[] = [];
    atoms.push(own);
    return compileObserved(c, x.body, own);
  });
  return { scope, atoms, conditions };
}

/** The scope (`holds`: the action scope's), then every condition, each apart. */
function valuesOf(compiled: CompiledClauses, holds: boolean | null, env: Env): ClauseValues {
  const valueOf = (f: (env: Env) => Value): boolean | null => {
    try {
      return boolOf(f(env));
    } catch (err) {
      if (err instanceof CedarErrs || err instanceof Opaque) return null;
      throw err;
    }
  };
  const parts = holds === false ? [false] : [holds, ...compiled.scope.map(valueOf)];
  const scope = parts.includes(false) ? false : parts.includes(null) ? null : true;
  return {
    scope,
    conditions: compiled.conditions.map((f) => {
      const seen: (boolean | null | undefined)[] = [];
      return { value: valueOf((e) => f(e, seen)), atoms: seen };
    }),
  };
}

/** Compiles `e`, its atoms (the leaves under the connectives) pushed to `atoms` in order. */
function compileObserved(c: AtomCompiler, e: Expr, atoms: Expr[]): Observed {
  const sub = (x: Expr) => compileObserved(c, x, atoms);
  if (e.op === '!') {
    const f = sub(e.arg);
    return (env, seen) => !boolOf(f(env, seen));
  }
  if (e.op === '&&' || e.op === '||') {
    const l = sub(e.left);
    const r = sub(e.right);
    return e.op === '&&'
      ? (env, seen) => boolOf(l(env, seen)) && boolOf(r(env, seen))
      : (env, seen) => boolOf(l(env, seen)) || boolOf(r(env, seen));
  }
  if (e.op === 'if') {
    const [i, t, f] = [sub(e.if), sub(e.then), sub(e.else)];
    return (env, seen) => (boolOf(i(env, seen)) ? t(env, seen) : f(env, seen));
  }
  const f = c.compile(e);
  const index = atoms.push(e) - 1;
  return (env, seen) => {
    seen[index] = null;
    const v = f(env);
    seen[index] = typeof v === 'boolean' ? v : null;
    return v;
  };
}
