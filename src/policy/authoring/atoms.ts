/**
 * The atoms of a policy set: the leaf Boolean predicates over request data (`E.contains(...)`,
 * `E.isEmpty()`, `principal == resource`, `resource.isOwner`, a scope's `principal == User::"x"`,
 * ...) that its scopes and conditions combine with `&&`, `||`, `!` and `if-then-else`. Read from
 * the typed EST (est.ts) of each policy; evaluated in plain JS (atom-compiler.ts).
 *
 * Why (docs/policies.md, "Deciding once per signature"): whether a policy is satisfied is a
 * function of its atoms' values, and Cedar's answer a function of which policies are satisfied,
 * so two requests of one action that satisfy the same policies of a set get the same decision,
 * determining policies and notices from that set. `policy diff` then asks Cedar once per
 * distinct signature instead of once per request. Anything this module cannot evaluate exactly
 * (`has`, `like`, arithmetic, ordering, extension functions, records, tags) refuses the whole
 * set, naming the policy and the construct, and the diff decides every request with Cedar as
 * before. A request on which a policy errs, or that reads what is not modelled (an attribute of
 * an entity the request does not carry, an action scope naming an action group), gets no
 * signature: Cedar decides it alone.
 *
 * atom-clauses.ts evaluates one policy's clauses apart (explain, coverage); role-relevance.ts
 * says which role sets' membership any atom can tell (the role quotient of enumerate.ts).
 */
import { actionScopeHolds, type ActionShape } from '../call-shape.js';
import type { EntityRef, EstValue, Expr, PolicyEst } from '../est.js';
import { subExpressionsOf } from '../est.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';
import { AtomCompiler, leavesOf, scopeExprsOf } from './atom-compiler.js';
import { boolOf, CedarErrs, envOf, Opaque, Unsupported, type Compiled } from './atom-values.js';

/** A request's signature under one set (action and atom values), or null: ask Cedar. */
export type Signer = (request: AuthzRequest) => string | null;

/** What {@link compileSigner} found: a signer and the atom count, or why there is none. */
export type SignerAnswer =
  { ok: true; signer: Signer; atoms: number } | { ok: false; reason: string };

/**
 * Compiles `trees` (keyed by policy id) under `schema` into a signer: per action, whether each
 * policy that may apply to it is satisfied or not (a request on which one errs has none),
 * evaluated from its atoms with Cedar's order and short-circuits. Roles the schema does not
 * declare are read as not held, as the adapter leaves them out (known-roles.ts). `groups` are
 * the schema's action groups (schema-json.ts `actionGroupsOf`): a scope naming one is left to
 * Cedar.
 */
export function compileSigner(
  trees: Readonly<Record<string, PolicyEst>>,
  schema: ParsedSchema,
  groups: readonly string[],
): SignerAnswer {
  const c = new AtomCompiler(schema);
  const shape = actionShapeOf(schema, groups);
  const byAction = new Map<string, Compiled[]>(shape.actions.map((a) => [a, []]));
  const atoms = new Set<string>();
  for (const [id, est] of Object.entries(trees)) {
    let policy: Compiled;
    try {
      const parts = partsOf(est);
      policy = compilePolicy(c, parts);
      for (const leaf of parts.flatMap(leavesOf))
        if (readsRequestData(leaf, shape.actionType)) atoms.add(JSON.stringify(leaf));
    } catch (err) {
      if (err instanceof Unsupported) return { ok: false, reason: `policy ${id} ${err.message}` };
      throw err;
    }
    for (const [action, policies] of byAction) {
      // A false action scope stops Cedar before anything can err: the policy does not count.
      const holds = actionScopeHolds(est.action, action, shape);
      if (holds === true) policies.push(policy);
      else if (holds === null) policies.push(askCedar);
    }
  }
  return { ok: true, signer: signerOf(byAction, schema), atoms: atoms.size };
}

/** The schema's actions as the action scopes are placed against them. */
export function actionShapeOf(
  schema: ParsedSchema,
  groups: readonly string[],
): Required<ActionShape> {
  return { actionType: schema.types.action, actions: Object.keys(schema.entityAttributes), groups };
}

/** A policy whose action scope only Cedar can place: no signature. */
const askCedar: Compiled = () => {
  throw new Opaque();
};

/** Scope, then each `when`, and each `unless` negated: what Cedar evaluates, in its order. */
export function partsOf(est: PolicyEst): Expr[] {
  const conditions = est.conditions.map((c): Expr =>
    c.kind === 'unless' ? { op: '!', arg: c.body } : c.body,
  );
  return [...scopeExprsOf(est), ...conditions];
}

/** Cedar evaluates scope, then `when`/`unless` in order, and stops at the first false. */
function compilePolicy(c: AtomCompiler, parts: readonly Expr[]): Compiled {
  const compiled = parts.map((x) => c.compile(x));
  return (env) => compiled.every((f) => boolOf(f(env)));
}

function signerOf(byAction: ReadonlyMap<string, Compiled[]>, schema: ParsedSchema): Signer {
  const known = new Set(schema.roles);
  return (request) => {
    const policies = byAction.get(request.action);
    if (policies === undefined) return null;
    const env = envOf(request, schema, known);
    let out = `${request.action}:`;
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
}

/**
 * Whether a leaf can depend on more than the action: it names `principal`, `resource` or
 * `context`, or an entity other than an action (whose attributes and parents are request data:
 * `User::"bob".isOwner` reads bob's facts when bob is the principal).
 */
function readsRequestData(e: Expr, actionType: string): boolean {
  if (e.op === 'var') return e.name !== 'action';
  if (e.op === 'value') return valueNamesEntity(e.value, (ref) => ref.type !== actionType);
  return subExpressionsOf(e).some((x) => readsRequestData(x, actionType));
}

function valueNamesEntity(v: EstValue, matches: (ref: EntityRef) => boolean): boolean {
  switch (v.kind) {
    case 'entity':
      return matches(v.entity);
    case 'set':
      return v.elements.some((x) => valueNamesEntity(x, matches));
    case 'record':
      return Object.values(v.attributes).some((x) => valueNamesEntity(x, matches));
    case 'extension':
      return v.args.some((x) => valueNamesEntity(x, matches));
    default:
      return false;
  }
}
