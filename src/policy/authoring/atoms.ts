/**
 * The atoms of a policy set: the leaf Boolean predicates over request data (`E.contains(...)`,
 * `E.isEmpty()`, `principal == resource`, `resource.isOwner`, a scope's `principal == User::"x"`,
 * ...) that its scopes and conditions combine with `&&`, `||`, `!` and `if-then-else`. Read from
 * Cedar's JSON form (EST) of each policy; evaluated here in plain JS.
 *
 * Why (docs/policies.md, "Deciding once per signature"): whether a policy is satisfied is a
 * function of its atoms' values, and Cedar's answer a function of which policies are satisfied,
 * so two requests of one action that satisfy the same policies of a set get the same decision,
 * determining policies and notices from that set. `policy diff` then asks Cedar once per
 * distinct signature instead of once per request. Anything this module cannot evaluate exactly
 * (`has`, `like`, arithmetic, ordering, extension functions, records, tags) refuses the whole
 * set, naming the policy and the construct, and the diff decides every request with Cedar as
 * before. A request on which a policy errs, or that reads what is not modelled (an attribute of
 * an entity the request does not carry), gets no signature: Cedar decides it alone.
 *
 * roleRelevanceOf says, for the role quotient (enumerate.ts), which role sets' membership of a
 * role any atom can tell.
 */
import { actionScopeMayMatch } from '../call-shape.js';
import type { PolicyEst } from '../call-shape.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';

/** A request's signature under one set (action and atom values), or null: ask Cedar. */
export type Signer = (request: AuthzRequest) => string | null;

/** What {@link compileSigner} found: a signer and the atom count, or why there is none. */
export type SignerAnswer =
  { ok: true; signer: Signer; atoms: number } | { ok: false; reason: string };

class Entity {
  constructor(
    readonly t: string,
    readonly id: string,
  ) {}
}
/** The context: the one record a policy can read here. */
class Rec {
  constructor(readonly attrs: Readonly<Record<string, Value>>) {}
}
type Value = boolean | string | number | Entity | Rec | Value[];

/** The request as the evaluator reads it. */
interface Env {
  principal: Entity;
  resource: Entity;
  action: Entity;
  context: Rec;
  request: AuthzRequest;
}

type Compiled = (env: Env) => Value;

/** Thrown at compile time: the construct the evaluator does not model. */
class Unsupported extends Error {}
/**
 * Thrown at evaluation where Cedar errs as well (an attribute a `Tenant` or a missing context
 * attribute does not have, a type mismatch): no signature, Cedar decides (and names the error).
 */
class CedarErrs extends Error {}
/** Thrown where Cedar answers from what the evaluator does not model: Cedar decides alone. */
class Opaque extends Error {}

const CONNECTIVES = new Set(['&&', '||', '!', 'if-then-else']);

/**
 * Compiles `ests` (keyed by policy id) under `schema` into a signer: per action, whether each
 * policy that may apply to it is satisfied or not (a request on which one errs has none),
 * evaluated from its atoms with Cedar's order and short-circuits. Roles the schema does not
 * declare are read as not held, as the adapter leaves them out (known-roles.ts). `groups` are
 * the schema's action groups (schema-json.ts `actionGroupsOf`): a scope naming one is left to Cedar.
 */
export function compileSigner(
  ests: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
  groups: readonly string[],
): SignerAnswer {
  const c = new AtomCompiler(schema);
  const actions = Object.keys(schema.entityAttributes);
  const shape = { actionType: schema.types.action, actions, groups };
  const byAction = new Map<string, Compiled[]>(actions.map((a) => [a, []]));
  const atoms = new Set<string>();
  for (const [id, est] of Object.entries(ests)) {
    const parts: unknown[] = [];
    for (const [slot, scope] of [
      ['principal', est.principal],
      ['resource', est.resource],
    ] as const) {
      const atom = scopeAtom(slot, scope);
      if (atom !== null) parts.push(atom);
    }
    for (const condition of est.conditions ?? []) {
      const { kind, body } = condition as { kind?: unknown; body?: unknown };
      parts.push(kind === 'unless' ? { '!': { arg: body } } : body);
    }
    let policy: Compiled;
    try {
      const compiled = parts.map((x) => c.compile(x));
      // Cedar evaluates scope, then `when`/`unless` in order, and stops at the first false.
      policy = (env) => compiled.every((f) => boolOf(f(env)));
      for (const part of parts) {
        const leaves: unknown[] = [];
        collectLeaves(part, leaves);
        for (const leaf of leaves)
          if (readsRequestData(leaf, schema.types.action)) atoms.add(JSON.stringify(leaf));
      }
    } catch (err) {
      if (err instanceof Unsupported) return { ok: false, reason: `policy ${id} ${err.message}` };
      throw err;
    }
    for (const a of actions) {
      // A false action scope stops Cedar before anything can err: the policy does not count.
      if (!actionScopeMayMatch(est.action, a, shape)) continue;
      const exact = isPlainActionScope(est.action, shape);
      (byAction.get(a) as Compiled[]).push(
        exact
          ? policy
          : () => {
              throw new Opaque();
            },
      );
    }
  }
  const known = new Set(schema.roles);
  const signer: Signer = (request) => {
    const policies = byAction.get(request.action);
    if (policies === undefined) return null;
    const env = envOf(request, schema, known);
    let out = request.action;
    out += ':';
    for (const policy of policies) {
      try {
        out += policy(env) === true ? '1' : '0';
      } catch (err) {
        // Cedar errs on this policy too, or decides from what is not modelled: an answer with
        // an error is never spread, so Cedar decides this request alone.
        if (err instanceof CedarErrs || err instanceof Opaque) return null;
        throw err;
      }
    }
    return out;
  };
  return { ok: true, signer, atoms: atoms.size };
}

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

/** Per policy id, its evaluator and each condition's atoms (EST nodes), or why there is none. */
export type ClauseEvaluators = Record<
  string,
  | { ok: true; atoms: unknown[][]; evaluate: (request: AuthzRequest) => ClauseValues }
  | { ok: false; reason: string }
>;

/**
 * Compiles each policy of `ests` into its parts (scope, then each condition body and its atoms),
 * for what a reader wants of one policy on one request (which clause was false: explain; which
 * atoms were seen true and false: coverage) rather than the set's signature. A policy this
 * module cannot read is refused alone. `groups` as for {@link compileSigner}.
 */
export function compileClauses(
  ests: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
  groups: readonly string[],
): ClauseEvaluators {
  const c = new AtomCompiler(schema);
  const actions = Object.keys(schema.entityAttributes);
  const shape = { actionType: schema.types.action, actions, groups };
  const known = new Set(schema.roles);
  const out: ClauseEvaluators = {};
  for (const [id, est] of Object.entries(ests)) {
    let scope: Compiled[];
    const atoms: unknown[][] = [];
    let conditions: Observed[];
    try {
      scope = (['principal', 'resource'] as const)
        .map((slot) => scopeAtom(slot, est[slot]))
        .filter((atom) => atom !== null)
        .map((atom) => c.compile(atom));
      conditions = (est.conditions ?? []).map((x) => {
        const own: unknown[] = [];
        atoms.push(own);
        return compileObserved(c, (x as { body?: unknown }).body, own);
      });
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      out[id] = { ok: false, reason: err.message };
      continue;
    }
    const plain = isPlainActionScope(est.action, shape);
    const evaluate = (request: AuthzRequest): ClauseValues => {
      const env = envOf(request, schema, known);
      const valueOf = (f: (env: Env) => Value): boolean | null => {
        try {
          return boolOf(f(env));
        } catch (err) {
          if (err instanceof CedarErrs || err instanceof Opaque) return null;
          throw err;
        }
      };
      const parts = actionScopeMayMatch(est.action, request.action, shape)
        ? [plain ? true : null, ...scope.map(valueOf)]
        : [false];
      const scopeValue = parts.includes(false) ? false : parts.includes(null) ? null : true;
      return {
        scope: scopeValue,
        conditions: conditions.map((f) => {
          const seen: (boolean | null | undefined)[] = [];
          return { value: valueOf((e) => f(e, seen)), atoms: seen };
        }),
      };
    };
    out[id] = { ok: true, atoms, evaluate };
  }
  return out;
}

/** A condition that writes the value of each atom it evaluates into `seen`, by atom index. */
type Observed = (env: Env, seen: (boolean | null | undefined)[]) => Value;

/** Compiles `node`, its atoms (the leaves under the connectives) pushed to `atoms` in order. */
function compileObserved(c: AtomCompiler, node: unknown, atoms: unknown[]): Observed {
  const [op, arg] =
    typeof node === 'object' && node !== null ? (Object.entries(node)[0] ?? []) : [];
  const a = arg as Record<string, unknown>;
  const sub = (k: string) => compileObserved(c, a[k], atoms);
  if (op === '!') {
    const f = sub('arg');
    return (env, seen) => !boolOf(f(env, seen));
  }
  if (op === '&&' || op === '||') {
    const l = sub('left');
    const r = sub('right');
    return op === '&&'
      ? (env, seen) => boolOf(l(env, seen)) && boolOf(r(env, seen))
      : (env, seen) => boolOf(l(env, seen)) || boolOf(r(env, seen));
  }
  if (op === 'if-then-else') {
    const [i, t, e] = [sub('if'), sub('then'), sub('else')];
    return (env, seen) => (boolOf(i(env, seen)) ? t(env, seen) : e(env, seen));
  }
  const f = c.compile(node);
  const index = atoms.push(node) - 1;
  return (env, seen) => {
    seen[index] = null;
    const v = f(env);
    seen[index] = typeof v === 'boolean' ? v : null;
    return v;
  };
}

/**
 * An action scope that names plain actions only, so it matches exactly by name. A group is a
 * declared action too: `action in Action::"writes"` matches the members of `writes`, which only
 * Cedar knows here.
 */
function isPlainActionScope(
  scope: unknown,
  {
    actionType,
    actions,
    groups,
  }: { actionType: string; actions: readonly string[]; groups: readonly string[] },
): boolean {
  const s = scope as { op?: unknown; entity?: unknown; entities?: unknown } | null;
  if (s?.op === 'All') return true;
  const list = Array.isArray(s?.entities) ? (s.entities as unknown[]) : [s?.entity];
  return (
    (s?.op === '==' || s?.op === 'in') &&
    list.every((e) => {
      const ref = e as { type?: unknown; id?: unknown } | null;
      return (
        ref?.type === actionType &&
        typeof ref.id === 'string' &&
        actions.includes(ref.id) &&
        !groups.includes(ref.id)
      );
    })
  );
}

/** A principal or resource scope as an expression, or null when it constrains nothing. */
function scopeAtom(slot: 'principal' | 'resource', scope: unknown): unknown {
  const s = scope as { op?: unknown; entity?: unknown; entity_type?: unknown; in?: unknown };
  const v = { Var: slot };
  const lit = (e: unknown) => ({ Value: { __entity: e } });
  switch (s.op) {
    case 'All':
    case undefined:
      return null;
    case '==':
      return { '==': { left: v, right: lit(s.entity) } };
    case 'in':
      return { in: { left: v, right: lit(s.entity) } };
    case 'is': {
      const inner = (s.in as { entity?: unknown } | undefined)?.entity;
      return {
        is: {
          left: v,
          entity_type: s.entity_type,
          ...(inner === undefined ? {} : { in: lit(inner) }),
        },
      };
    }
    default:
      // A slot (`?principal`) or a form Cedar added later: nothing to evaluate it with.
      return { unsupported: { scope: s.op } };
  }
}

function collectLeaves(node: unknown, out: unknown[]): void {
  if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
    const [op, arg] = Object.entries(node as Record<string, unknown>)[0] ?? [];
    if (op !== undefined && CONNECTIVES.has(op)) {
      const a = arg as Record<string, unknown>;
      if (op === '!') collectLeaves(a['arg'], out);
      else if (op === 'if-then-else')
        for (const k of ['if', 'then', 'else']) collectLeaves(a[k], out);
      else for (const k of ['left', 'right']) collectLeaves(a[k], out);
      return;
    }
  }
  out.push(node);
}

/**
 * Whether a leaf can depend on more than the action: it names `principal`, `resource` or
 * `context`, or an entity other than an action (whose attributes and parents are request data:
 * `User::"bob".isOwner` reads bob's facts when bob is the principal).
 */
function readsRequestData(node: unknown, actionType: string): boolean {
  if (Array.isArray(node)) return node.some((x) => readsRequestData(x, actionType));
  if (typeof node !== 'object' || node === null) return false;
  const o = node as Record<string, unknown>;
  if (typeof o['Var'] === 'string') return o['Var'] !== 'action';
  const ref = o['__entity'] as { type?: unknown } | undefined;
  if (ref !== undefined) return ref.type !== actionType;
  // A scope that is not modelled must refuse, whatever it reads.
  if ('unsupported' in o) return true;
  return Object.values(o).some((x) => readsRequestData(x, actionType));
}

function envOf(request: AuthzRequest, schema: ParsedSchema, known: ReadonlySet<string>): Env {
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

class AtomCompiler {
  constructor(private readonly schema: ParsedSchema) {}

  compile(node: unknown): Compiled {
    if (typeof node !== 'object' || node === null || Array.isArray(node))
      throw new Unsupported(`has an expression the atom analysis cannot read`);
    const [op, arg] = Object.entries(node as Record<string, unknown>)[0] ?? [];
    const a = arg as Record<string, unknown>;
    const bin = (f: (l: Value, r: Value) => Value): Compiled => {
      const l = this.compile(a['left']);
      const r = this.compile(a['right']);
      return (env) => f(l(env), r(env));
    };
    switch (op) {
      case 'Value': {
        const v = literalOf(arg);
        return () => v;
      }
      case 'Var':
        return varOf(arg);
      case 'Set': {
        const items = (arg as unknown[]).map((x) => this.compile(x));
        return (env) => items.map((f) => f(env));
      }
      case '.': {
        const left = this.compile(a['left']);
        const attr = a['attr'] as string;
        return (env) => this.attribute(env, left(env), attr);
      }
      case '==':
        return bin((l, r) => equal(l, r));
      case '!=':
        return bin((l, r) => !equal(l, r));
      case 'in': {
        const l = this.compile(a['left']);
        const r = this.compile(a['right']);
        return (env) => this.isIn(env, l(env), r(env));
      }
      case 'is': {
        const left = this.compile(a['left']);
        const type = a['entity_type'] as string;
        const inner = a['in'] === undefined ? null : this.compile(a['in']);
        return (env) => {
          const e = entityOf(left(env));
          return e.t === type && (inner === null || this.isIn(env, e, inner(env)));
        };
      }
      case 'contains':
        return bin((l, r) => setOf(l).some((x) => equal(x, r)));
      case 'containsAll':
        return bin((l, r) => setOf(r).every((x) => setOf(l).some((y) => equal(x, y))));
      case 'containsAny':
        return bin((l, r) => setOf(r).some((x) => setOf(l).some((y) => equal(x, y))));
      case 'isEmpty': {
        const f = this.compile(a['arg']);
        return (env) => setOf(f(env)).length === 0;
      }
      case '!': {
        const f = this.compile(a['arg']);
        return (env) => !boolOf(f(env));
      }
      case '&&': {
        const l = this.compile(a['left']);
        const r = this.compile(a['right']);
        return (env) => boolOf(l(env)) && boolOf(r(env));
      }
      case '||': {
        const l = this.compile(a['left']);
        const r = this.compile(a['right']);
        return (env) => boolOf(l(env)) || boolOf(r(env));
      }
      case 'if-then-else': {
        const i = this.compile(a['if']);
        const t = this.compile(a['then']);
        const e = this.compile(a['else']);
        return (env) => (boolOf(i(env)) ? t(env) : e(env));
      }
      default:
        throw new Unsupported(`uses \`${op ?? '?'}\`, which the atom analysis does not model`);
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

function varOf(name: unknown): Compiled {
  switch (name) {
    case 'principal':
      return (env) => env.principal;
    case 'resource':
      return (env) => env.resource;
    case 'action':
      return (env) => env.action;
    case 'context':
      return (env) => env.context;
    default:
      throw new Unsupported(`reads the variable \`${String(name)}\``);
  }
}

function literalOf(v: unknown): Value {
  if (typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(literalOf);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const ref = (o['__entity'] ?? o) as { type?: unknown; id?: unknown };
    if (typeof ref.type === 'string' && typeof ref.id === 'string')
      return new Entity(ref.type, ref.id);
  }
  throw new Unsupported('holds a literal the atom analysis cannot read');
}

function entityOf(v: Value): Entity {
  if (!(v instanceof Entity)) throw new CedarErrs();
  return v;
}
function setOf(v: Value): Value[] {
  if (!Array.isArray(v)) throw new CedarErrs();
  return v;
}
function boolOf(v: Value): boolean {
  if (typeof v !== 'boolean') throw new CedarErrs();
  return v;
}

function equal(a: Value, b: Value): boolean {
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

/**
 * For each role, the role sets (`principal`, `resource`, or a context attribute's name) whose
 * membership of that role some atom can tell; and the sets every role's membership counts for
 * (`isEmpty()`, set equality, `containsAll` of a request set, a `contains` of a non-literal).
 */
export interface RoleRelevance {
  perRole: Record<string, string[]>;
  allRoles: string[];
}

/**
 * Where the atoms of `ests` read role sets, or why that cannot be said exactly: any read of a
 * role set other than a direct operand of `contains`, `containsAny`, `containsAll`, `isEmpty`,
 * `==` or `!=` (an `if` choosing a set, a literal user's roles) refuses.
 */
export function roleRelevanceOf(
  ests: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
): { ok: true; relevance: RoleRelevance } | { ok: false; reason: string } {
  const roleSets = new Set<string>();
  for (const attrs of Object.values(schema.entityAttributes))
    for (const [name, kind] of Object.entries(attrs))
      if (kind.kind === 'entitySet' && kind.type === schema.types.role) roleSets.add(name);
  const perRole = new Map<string, Set<string>>();
  const allRoles = new Set<string>();
  const pathOf = (node: unknown): string | null => {
    const dot = (node as { '.'?: { left?: { Var?: unknown }; attr?: unknown } } | null)?.['.'];
    if (dot === undefined) return null;
    const v = dot.left?.Var;
    if ((v === 'principal' || v === 'resource') && dot.attr === 'roles') return v;
    if (v === 'context' && typeof dot.attr === 'string' && roleSets.has(dot.attr)) return dot.attr;
    return null;
  };
  const literalRoles = (node: unknown): string[] | null => {
    const o = node as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object') return null;
    const one = (x: unknown): string | null => {
      const value = (x as { Value?: { __entity?: { type?: unknown; id?: unknown } } } | null)
        ?.Value;
      const ref = value?.__entity ?? null;
      return ref !== null && ref.type === schema.types.role && typeof ref.id === 'string'
        ? ref.id
        : null;
    };
    const single = one(o);
    if (single !== null) return [single];
    if (Array.isArray(o['Set'])) {
      const ids = (o['Set'] as unknown[]).map(one);
      return ids.every((x) => x !== null) ? ids : null;
    }
    return null;
  };
  const relevant = (role: string, path: string) => {
    let s = perRole.get(role);
    if (s === undefined) perRole.set(role, (s = new Set()));
    s.add(path);
  };
  let refusal: string | null = null;
  const scan = (node: unknown): void => {
    if (refusal !== null || typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach(scan);
      return;
    }
    const [op, arg] = Object.entries(node as Record<string, unknown>)[0] ?? [];
    const a = (arg ?? {}) as Record<string, unknown>;
    if (pathOf(node) !== null) {
      refusal = `reads a role set where the role quotient cannot follow it`;
      return;
    }
    if (op === 'contains' || op === 'containsAny' || op === 'containsAll') {
      const left = pathOf(a['left']);
      const right = pathOf(a['right']);
      const lits = literalRoles(a['right']);
      if (left !== null && right === null && lits !== null) {
        // contains/containsAny/containsAll of literals: only those roles' membership counts.
        for (const r of lits) relevant(r, left);
        return;
      }
      for (const p of [left, right]) if (p !== null) allRoles.add(p);
      if (left === null) scan(a['left']);
      if (right === null) scan(a['right']);
      return;
    }
    if (op === 'isEmpty') {
      const p = pathOf(a['arg']);
      if (p !== null) {
        allRoles.add(p);
        return;
      }
    }
    if (op === '==' || op === '!=') {
      const left = pathOf(a['left']);
      const right = pathOf(a['right']);
      for (const p of [left, right]) if (p !== null) allRoles.add(p);
      if (left === null) scan(a['left']);
      if (right === null) scan(a['right']);
      return;
    }
    for (const v of Object.values(node as Record<string, unknown>)) scan(v);
  };
  for (const [id, est] of Object.entries(ests)) {
    for (const c of est.conditions ?? []) scan((c as { body?: unknown }).body);
    if (refusal !== null) return { ok: false, reason: `policy ${id} ${refusal as string}` };
  }
  return {
    ok: true,
    relevance: {
      perRole: Object.fromEntries([...perRole].map(([r, s]) => [r, [...s].sort()])),
      allRoles: [...allRoles].sort(),
    },
  };
}
