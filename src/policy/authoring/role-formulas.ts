/**
 * A policy's condition under one request with its roles left open: what the atom analysis
 * (atoms.ts) evaluates, with every read of a role set kept as a Boolean formula over "role r is
 * in set S" and "S is empty", and everything else evaluated on the request. The counted diff
 * (diff-counted.ts) fixes the facts that do not depend on roles, then walks the roles one at a
 * time instead of enumerating their combinations.
 *
 * Exactness: a formula's value under a role assignment is the signer's answer (atoms.ts) for the
 * request with those roles, because the role-free parts are the signer's own closures and the
 * role atoms are the only reads of role sets role-relevance.ts lets through. Where that cannot
 * be said — a role set read any other way, an error that a role atom guards, a policy that errs
 * or that only Cedar can decide — {@link NotCountable} is thrown and the diff enumerates as before.
 */
import { actionScopeHolds } from '../call-shape.js';
import type { Expr, PolicyEst } from '../est.js';
import { subExpressionsOf } from '../est.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';
import { AtomCompiler } from './atom-compiler.js';
import { boolOf, CedarErrs, Entity, envOf, Opaque, setOf } from './atom-values.js';
import type { Compiled, Env, Value } from './atom-values.js';
import { actionShapeOf, partsOf } from './atoms.js';
import { roleSetPathOf, roleSetsOf } from './role-relevance.js';

/** A Boolean over role memberships: constants, `role ∈ set`, `set = ∅`, and connectives. */
export type Formula =
  | { t: 'const'; v: boolean }
  | { t: 'in'; role: string; set: string }
  | { t: 'empty'; set: string }
  | { t: 'and' | 'or'; a: Formula; b: Formula }
  | { t: 'not'; a: Formula };

/** The counted diff cannot be sure of its answer here: enumerate instead (and say why). */
export class NotCountable extends Error {}

const TRUE: Formula = { t: 'const', v: true };
const FALSE: Formula = { t: 'const', v: false };

/** A formula, told apart from a concrete value. */
class Sym {
  constructor(readonly f: Formula) {}
}
type Result = Value | Sym;

/** The policies of one set, compiled once, evaluated per request with roles open. */
export class RoleFormulas {
  private readonly atoms: AtomCompiler;
  private readonly compiled = new WeakMap<Expr, Compiled>();
  private readonly reads = new WeakMap<Expr, boolean>();
  private readonly known: ReadonlySet<string>;
  private readonly roleSets: ReadonlySet<string>;
  private readonly byAction = new Map<string, { id: string; parts: Expr[] }[]>();

  constructor(
    trees: Readonly<Record<string, PolicyEst>>,
    private readonly schema: ParsedSchema,
    groups: readonly string[],
  ) {
    this.atoms = new AtomCompiler(schema);
    this.known = new Set(schema.roles);
    this.roleSets = roleSetsOf(schema);
    const shape = actionShapeOf(schema, groups);
    for (const action of shape.actions) this.byAction.set(action, []);
    for (const [id, est] of Object.entries(trees))
      for (const [action, list] of this.byAction) {
        const holds = actionScopeHolds(est.action, action, shape);
        if (holds === null) throw new NotCountable(`policy ${id}'s action scope names a group`);
        if (holds) list.push({ id, parts: partsOf(est) });
      }
  }

  /** Each policy of the request's action: whether it is satisfied, as a formula over roles. */
  policiesOf(request: AuthzRequest): Formula[] {
    const list = this.byAction.get(request.action);
    if (list === undefined) throw new NotCountable(`action ${request.action} is not declared`);
    const env = envOf(request, this.schema, this.known);
    return list.map(({ id, parts }) => {
      try {
        return this.conjunction(parts, env);
      } catch (err) {
        if (err instanceof CedarErrs || err instanceof Opaque)
          throw new NotCountable(`policy ${id} errs or is left to Cedar on some request`);
        throw err;
      }
    });
  }

  /** Cedar's scope-then-conditions order: the first false part stops it. */
  private conjunction(parts: readonly Expr[], env: Env): Formula {
    let out: Formula = TRUE;
    for (const p of parts) {
      const v = this.eval(p, env);
      if (!(v instanceof Sym)) {
        if (!boolOf(v)) return FALSE;
        continue;
      }
      out = and(out, v.f);
    }
    return out;
  }

  private eval(e: Expr, env: Env): Result {
    if (!this.readsRoles(e)) return this.closure(e)(env);
    switch (e.op) {
      case '&&':
      case '||':
        return this.connective(e.op, e.left, e.right, env);
      case '!': {
        const a = this.eval(e.arg, env);
        return a instanceof Sym ? new Sym(not(a.f)) : !boolOf(a);
      }
      case 'if':
        return this.choice(e.if, e.then, e.else, env);
      case 'contains':
      case 'containsAny':
      case 'containsAll':
        return this.membership(e.op, e.left, e.right, env);
      case 'isEmpty': {
        const set = this.pathOf(e.arg);
        if (set === null) throw new NotCountable('a role set is read through an expression');
        this.closure(e.arg)(env);
        return new Sym({ t: 'empty', set });
      }
      default:
        throw new NotCountable(`a role set is read by \`${e.op}\``);
    }
  }

  /** `&&`/`||`: a role-dependent left side may guard an error on the right: not countable. */
  private connective(op: '&&' | '||', left: Expr, right: Expr, env: Env): Result {
    const stop = op === '||';
    const l = this.eval(left, env);
    if (!(l instanceof Sym)) return boolOf(l) === stop ? stop : boolResult(this.eval(right, env));
    const r = this.guarded(right, env);
    const join = op === '&&' ? and : or;
    return new Sym(join(l.f, r));
  }

  private choice(cond: Expr, then: Expr, other: Expr, env: Env): Result {
    const c = this.eval(cond, env);
    if (!(c instanceof Sym)) return boolOf(c) ? this.eval(then, env) : this.eval(other, env);
    const [t, f] = [this.guarded(then, env), this.guarded(other, env)];
    return new Sym(or(and(c.f, t), and(not(c.f), f)));
  }

  /** A Boolean evaluated under a role-dependent guard: an error there is not countable. */
  private guarded(e: Expr, env: Env): Formula {
    let v: Result;
    try {
      v = this.eval(e, env);
    } catch (err) {
      if (err instanceof CedarErrs || err instanceof Opaque)
        throw new NotCountable('an error is guarded by a role');
      throw err;
    }
    if (v instanceof Sym) return v.f;
    if (typeof v !== 'boolean') throw new NotCountable('a non-Boolean is guarded by a role');
    return v ? TRUE : FALSE;
  }

  /** `S.contains(role)`, `S.containsAny([...])`, `S.containsAll([...])` of a role set `S`. */
  private membership(op: string, left: Expr, right: Expr, env: Env): Result {
    const set = this.pathOf(left);
    if (set === null || this.readsRoles(right))
      throw new NotCountable(`a role set is compared by \`${op}\``);
    this.closure(left)(env);
    const r = this.closure(right)(env);
    const atom = (x: Value): Formula =>
      x instanceof Entity && x.t === this.schema.types.role && this.known.has(x.id)
        ? { t: 'in', role: x.id, set }
        : FALSE;
    if (op === 'contains') return new Sym(atom(r));
    const atoms = setOf(r).map(atom);
    if (op === 'containsAny') return new Sym(atoms.reduce(or, FALSE));
    return new Sym(atoms.reduce(and, TRUE));
  }

  private closure(e: Expr): Compiled {
    let f = this.compiled.get(e);
    if (f === undefined) this.compiled.set(e, (f = this.atoms.compile(e)));
    return f;
  }

  /** Whether `e` may read a role set anywhere (any `.roles`, not only the paths). */
  private readsRoles(e: Expr): boolean {
    let r = this.reads.get(e);
    if (r === undefined) {
      const here = this.pathOf(e) !== null || (e.op === '.' && e.attr === 'roles');
      r = here || subExpressionsOf(e).some((x) => this.readsRoles(x));
      this.reads.set(e, r);
    }
    return r;
  }

  private pathOf(e: Expr): string | null {
    return roleSetPathOf(e, this.roleSets);
  }
}

function boolResult(v: Result): Result {
  return v instanceof Sym ? v : boolOf(v);
}

function and(a: Formula, b: Formula): Formula {
  if (a.t === 'const') return a.v ? b : FALSE;
  if (b.t === 'const') return b.v ? a : FALSE;
  return { t: 'and', a, b };
}

function or(a: Formula, b: Formula): Formula {
  if (a.t === 'const') return a.v ? TRUE : b;
  if (b.t === 'const') return b.v ? TRUE : a;
  return { t: 'or', a, b };
}

function not(a: Formula): Formula {
  return a.t === 'const' ? (a.v ? FALSE : TRUE) : { t: 'not', a };
}

/** The roles a formula reads. */
export function rolesOfFormula(f: Formula, out = new Set<string>()): Set<string> {
  if (f.t === 'in') out.add(f.role);
  else if (f.t === 'and' || f.t === 'or') {
    rolesOfFormula(f.a, out);
    rolesOfFormula(f.b, out);
  } else if (f.t === 'not') rolesOfFormula(f.a, out);
  return out;
}

/** A formula's value, given memberships and emptiness. */
export function evaluate(
  f: Formula,
  inSet: (role: string, set: string) => boolean,
  empty: (set: string) => boolean,
): boolean {
  switch (f.t) {
    case 'const':
      return f.v;
    case 'in':
      return inSet(f.role, f.set);
    case 'empty':
      return empty(f.set);
    case 'and':
      return evaluate(f.a, inSet, empty) && evaluate(f.b, inSet, empty);
    case 'or':
      return evaluate(f.a, inSet, empty) || evaluate(f.b, inSet, empty);
    case 'not':
      return !evaluate(f.a, inSet, empty);
  }
}
