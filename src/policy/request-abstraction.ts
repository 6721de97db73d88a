/**
 * The request abstraction: what a decision of cedargate's policies can depend on, and nothing
 * more. Used as the decision cache's key and by `policy diff` to enumerate every request.
 *
 * The argument (docs/policies.md, "Why equality classes cover every id"): Cedar can compare
 * entity ids (`==`, `in`, `contains`) but has no operation that reads one (no conversion to a
 * string, no ordering, `like` takes strings only). So a bijection on ids that fixes every id a
 * policy names literally maps every request to one that every policy decides the same way.
 * The abstraction therefore keeps literal ids concrete and replaces every other id by its
 * equality class: the order in which it first appears in the request.
 */
import { entityLiteralsOf } from './cedar-adapter.js';
import type { SchemaType } from './cedar-adapter.js';
import type { LoadedPolicySet } from './policy-set.js';
import type { AuthzRequest, ParsedSchema } from './types.js';

/** The ids the policies name literally, per kind of entity. */
export interface PolicyLiterals {
  users: ReadonlySet<string>;
  tenants: ReadonlySet<string>;
  roles: ReadonlySet<string>;
}

/** The literals of every policy of the given sets together (both sides of a diff, say). */
export function collectLiterals(...sets: LoadedPolicySet[]): PolicyLiterals {
  const users = new Set<string>();
  const tenants = new Set<string>();
  const roles = new Set<string>();
  for (const set of sets) {
    const { types } = set.schema;
    for (const text of Object.values(set.texts)) {
      for (const lit of entityLiteralsOf(text)) {
        // A type spelled differently from the schema's (another namespace) is matched on its
        // last segment too: keeping an extra id concrete never makes the key unsound.
        const base = lit.type.split('::').pop();
        if (lit.type === types.user || base === 'User') users.add(lit.id);
        else if (lit.type === types.tenant || base === 'Tenant') tenants.add(lit.id);
        else if (lit.type === types.role || base === 'Role') roles.add(lit.id);
      }
    }
  }
  return { users, tenants, roles };
}

/**
 * Why the abstraction cannot be trusted with this schema, or null when it can. The key holds
 * exactly the facts the sidecar builds (`tenant`, `roles`, `isOwner` of a user; no attribute of a
 * tenant) and the whole context, with entity ids replaced by their classes. It refuses a schema:
 * - whose `User` declares any other attribute, or whose `Tenant` declares any attribute: a
 *   `String` or `Long` one (say `email`) would let a policy read more than equality, and an entity
 *   one (`manager: User`) would carry an id the key does not classify;
 * - that declares entity tags on `User` or `Tenant` (`getTag` reads values the key does not hold);
 * - whose context of some action holds an entity other than a `Role` (a `User` or `Tenant` id in
 *   the context would be an id outside the key's classes), anywhere inside sets and records.
 */
export function abstractionRefusal(schema: ParsedSchema): string | null {
  const { shapes } = schema;
  const { user, tenant, role } = schema.types;
  const userShape = shapes.entities[user];
  const tenantShape = shapes.entities[tenant];
  if (userShape === undefined || tenantShape === undefined)
    return 'the schema has no User or Tenant';
  const expected: Record<string, string> = {
    tenant: JSON.stringify({ kind: 'Entity', name: tenant }),
    roles: JSON.stringify({ kind: 'Set', element: { kind: 'Entity', name: role } }),
    isOwner: JSON.stringify({ kind: 'Bool' }),
  };
  for (const [name, t] of Object.entries(userShape.attributes)) {
    if (expected[name] !== JSON.stringify(t)) {
      return `User attribute \`${name}\` (${describeType(t)}) is not one the request abstraction models`;
    }
  }
  for (const [name, t] of Object.entries(tenantShape.attributes)) {
    return `Tenant attribute \`${name}\` (${describeType(t)}) is not one the request abstraction models`;
  }
  if (userShape.tags || tenantShape.tags)
    return 'the schema declares entity tags on User or Tenant';
  for (const [action, attrs] of Object.entries(shapes.contexts)) {
    for (const [name, t] of Object.entries(attrs)) {
      const entity = foreignEntityIn(t, role);
      if (entity !== null) {
        return `the context of ${action} holds an entity id (\`${name}\`: ${entity}) the abstraction cannot classify`;
      }
    }
  }
  return null;
}

function foreignEntityIn(t: SchemaType, role: string): string | null {
  switch (t.kind) {
    case 'Entity':
      return t.name === role ? null : t.name;
    case 'Set':
      return foreignEntityIn(t.element, role);
    case 'Record':
      for (const a of Object.values(t.attributes)) {
        const found = foreignEntityIn(a, role);
        if (found !== null) return found;
      }
      return null;
    default:
      return null;
  }
}

/** The type as a person reads it in a schema. */
export function describeType(t: SchemaType): string {
  switch (t.kind) {
    case 'Entity':
    case 'Extension':
      return t.name;
    case 'Set':
      return `Set<${describeType(t.element)}>`;
    case 'Record':
      return `{${Object.entries(t.attributes)
        .map(([k, v]) => `${k}: ${describeType(v)}`)
        .join(', ')}}`;
    default:
      return t.kind;
  }
}

/** The abstraction of one policy set. */
export interface RequestAbstraction {
  literals: PolicyLiterals;
  /** Why {@link RequestAbstraction.keyOf} always answers undefined, or null. */
  refusal: string | null;
  /**
   * A compact key such that two requests with the same key get the same decision (allow or
   * deny, the same determining policies and notices) from this policy set. `undefined` when the
   * abstraction refuses the schema ({@link abstractionRefusal}): the caller must ask Cedar.
   * The key does not hold the policy set's version: a cache keeps one abstraction per set.
   */
  keyOf(request: AuthzRequest): string | undefined;
}

/** Builds the abstraction of `set`; `extraLiterals` adds literals (a diff's other side). */
export function createRequestAbstraction(
  set: LoadedPolicySet,
  extraLiterals?: PolicyLiterals,
  /** The set's own literals when already collected (a worker did: it costs a Cedar call each). */
  ownLiterals?: PolicyLiterals,
): RequestAbstraction {
  const own = ownLiterals ?? collectLiterals(set);
  const literals =
    extraLiterals === undefined
      ? own
      : {
          users: new Set([...own.users, ...extraLiterals.users]),
          tenants: new Set([...own.tenants, ...extraLiterals.tenants]),
          roles: new Set([...own.roles, ...extraLiterals.roles]),
        };
  const refusal = abstractionRefusal(set.schema);
  return {
    literals,
    refusal,
    keyOf: (request) => (refusal === null ? abstractKeyOf(request, literals) : undefined),
  };
}

/**
 * The key of `request` given the literals, without checking the schema (callers that checked
 * it once, such as the enumeration, use this directly).
 */
export function abstractKeyOf(request: AuthzRequest, literals: PolicyLiterals): string {
  // Built by concatenation, not JSON of nested arrays: this runs on every request (a cached
  // decision's whole cost is this key and one LRU look-up). Injective all the same: a class is
  // a digit, a literal a JSON string (it starts with a quote), and every part is delimited.
  const { principal: p, resource: r } = request;
  const { users, tenants } = literals;
  const pUser = users.has(p.id) ? JSON.stringify(p.id) : '0';
  const pTenant = tenants.has(p.tenantId) ? JSON.stringify(p.tenantId) : '0';
  // Classes in order of first appearance: the principal's ids are class 0 when not literal.
  const nextUser = pUser === '0' ? '1' : '0';
  const tenantClass = (id: string) =>
    tenants.has(id) ? JSON.stringify(id) : id === p.tenantId ? '0' : pTenant === '0' ? '1' : '0';
  let key = `${request.action}|${pUser}|${pTenant}|${setKey(p.roles)}|${p.isOwner ? 1 : 0}|`;
  if (r.type === 'User') {
    const rUser = users.has(r.id) ? JSON.stringify(r.id) : r.id === p.id ? '0' : nextUser;
    key += `U|${rUser}|${tenantClass(r.tenantId)}|${setKey(r.roles)}|${r.isOwner ? 1 : 0}`;
  } else {
    key += `T|${tenantClass(r.id)}`;
  }
  const { context } = request;
  const names = Object.keys(context);
  // The builders write the context in one order; sort only what comes otherwise.
  if (!isSorted(names)) names.sort();
  for (const k of names) {
    const v = context[k];
    key += `|${quoted(k)}:${Array.isArray(v) ? setKey(v as readonly string[]) : JSON.stringify(v)}`;
  }
  return key;
}

/** A role set as JSON, in one order whatever order it came in, each member once. */
function setKey(values: readonly string[]): string {
  const n = values.length;
  if (n === 0) return '[]';
  if (n === 1) return JSON.stringify(values);
  if (n === 2) {
    const [a, b] = values as [string, string];
    if (a === b) return JSON.stringify([a]);
    return JSON.stringify(a < b ? values : [b, a]);
  }
  const sorted = values.slice().sort();
  return JSON.stringify(sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]));
}

function isSorted(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++) {
    if ((names[i - 1] as string) > (names[i] as string)) return false;
  }
  return true;
}

/** Context attribute names, quoted once: a schema declares a handful. */
const QUOTED = new Map<string, string>();
function quoted(name: string): string {
  let q = QUOTED.get(name);
  if (q === undefined) {
    q = JSON.stringify(name);
    // Bounded: the names come from the schema, but a context is whatever record a caller built.
    if (QUOTED.size < 1024) QUOTED.set(name, q);
  }
  return q;
}
