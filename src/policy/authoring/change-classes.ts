/**
 * What a change class is, for `policy diff` (every request the sidecar can build) and `policy
 * replay` (the requests a log holds): the requests of one action, one relation between principal
 * and resource, whose answer changed the same way, for the same policies. One key, one set of
 * facts a reader tells a class by, one sentence — so the two tools name the same change alike.
 */
import { USERS_ACTIONS } from '../types.js';
import type { AuthzRequest, UsersAction } from '../types.js';

/** How the principal and the resource relate. */
export type Relation = 'self' | 'same-tenant' | 'other-tenant' | 'own-tenant';

/** The relation as a reader reads it, after "on". */
export const RELATION_TEXT: Readonly<Record<Relation, string>> = {
  self: 'themselves',
  'same-tenant': 'another user of the same tenant',
  'other-tenant': 'a user of another tenant',
  'own-tenant': 'their own tenant',
};

/** How the request's principal and resource relate. */
export function relationOf(r: AuthzRequest): Relation {
  if (r.resource.type === 'Tenant')
    return r.resource.id === r.principal.tenantId ? 'own-tenant' : 'other-tenant';
  if (r.resource.id === r.principal.id) return 'self';
  return r.resource.tenantId === r.principal.tenantId ? 'same-tenant' : 'other-tenant';
}

/** One side's answer, as much of it as names a class. */
export interface Answer {
  decision: 'allow' | 'deny';
  policies: readonly string[];
}

/**
 * How a request's answer changed: its decision, or (a denial both times) the notices it shows;
 * null when it did not.
 */
export function changeKindOf(
  before: { decision: 'allow' | 'deny'; notices: readonly string[] },
  after: { decision: 'allow' | 'deny'; notices: readonly string[] },
): 'decision' | 'notices' | null {
  if (before.decision !== after.decision) return 'decision';
  return before.decision === 'deny' && before.notices.join('\n') !== after.notices.join('\n')
    ? 'notices'
    : null;
}

/** What a class is told apart by, as the key of a map of classes. */
export function classKey(
  action: UsersAction,
  relation: Relation,
  kind: string,
  before: Answer,
  after: Answer,
): string {
  return JSON.stringify([
    action,
    relation,
    kind,
    before.decision,
    before.policies,
    after.decision,
    after.policies,
  ]);
}

export type Part = 'principal' | 'resource' | 'context';

/** One fact of a request: `key` names the question, `text` the answer as a person reads it. */
export interface Feature {
  part: Part;
  key: string;
  text: string;
  /** `key` and `text` together: one answer's name. */
  id: string;
}

/** The facts every request of a class shares, by part. */
export interface Description {
  principal: string[];
  resource: string[];
  context: string[];
}

/**
 * The words facts are told in. A diff knows the whole space, so it says what a request lacks
 * as well as what it has; a replay sees one logged request at a time, so it says what is there.
 */
export interface Vocabulary {
  /** Ids a policy names: a user (a tenant) id is described only when some policy names one. */
  users: ReadonlySet<string>;
  tenants: ReadonlySet<string>;
  /**
   * The roles whose membership of a role set (`principal`, `resource`, a context attribute) is
   * described, held or not, and whether the set's emptiness is. Null: the roles held, and "holds
   * no role" or "is empty" when there are none.
   */
  roles: { of(set: string): readonly string[]; emptiness(set: string): boolean } | null;
}

/** The vocabulary of what a request shows: the roles present, no ids. */
export const AS_SEEN: Vocabulary = { users: new Set(), tenants: new Set(), roles: null };

/** The facts of `r` a reader can tell a class by, in reading order. */
export function featuresOf(r: AuthzRequest, relation: Relation, words: Vocabulary): Feature[] {
  const out: Feature[] = [];
  const add = (part: Part, key: string, text: string) =>
    out.push({ part, key, text, id: `${key}\t${text}` });
  const userId = (id: string) =>
    words.users.has(id) ? `is User "${id}"` : 'is a user no policy names';
  const tenantId = (id: string) =>
    words.tenants.has(id) ? `in Tenant "${id}"` : 'in a tenant no policy names';
  const user = (part: 'principal' | 'resource', u: AuthzRequest['principal']) => {
    if (words.users.size > 0) add(part, `${part}.id`, userId(u.id));
    if (words.tenants.size > 0) add(part, `${part}.tenant`, tenantId(u.tenantId));
    rolesOf(part, part, u.roles, words, add);
    add(part, `${part}.owner`, u.isOwner ? 'is the owner' : 'is not the owner');
  };
  user('principal', r.principal);
  add('resource', 'relation', RELATION_TEXT[relation]);
  if (r.resource.type === 'User' && relation !== 'self') user('resource', r.resource);
  else if (r.resource.type === 'Tenant' && words.tenants.size > 0)
    add('resource', 'resource.tenant', tenantId(r.resource.id).replace(/^in /, 'is '));
  for (const [k, v] of Object.entries(r.context)) {
    if (typeof v === 'boolean') add('context', `context.${k}`, v ? `${k}` : `not ${k}`);
    else if (typeof v === 'string') add('context', `context.${k}`, `${k} = ${JSON.stringify(v)}`);
    else rolesOf('context', k, v, words, add);
  }
  return out;
}

/** A role set's facts: its roles (held or not) and, for a context attribute, its emptiness. */
function rolesOf(
  part: Part,
  set: string,
  held: readonly string[],
  words: Vocabulary,
  add: (part: Part, key: string, text: string) => void,
): void {
  const user = part !== 'context';
  const key = user ? `${set}.role` : `context.${set}`;
  const has = (role: string) => (user ? `holds ${role}` : `${set} has ${role}`);
  if (words.roles === null) {
    for (const role of held) add(part, `${key}.${role}`, has(role));
    if (held.length === 0) add(part, `${key}.empty`, user ? 'holds no role' : `${set} is empty`);
    return;
  }
  if (!user && words.roles.emptiness(set))
    add(part, `${key}.empty`, held.length === 0 ? `${set} is empty` : `${set} is not empty`);
  for (const role of words.roles.of(set)) {
    const lacks = user ? `does not hold ${role}` : `${set} lacks ${role}`;
    add(part, `${key}.${role}`, held.includes(role) ? has(role) : lacks);
  }
}

/** The facts of `shared` that `features` has too: what every member so far has in common. */
export function intersect(shared: Feature[] | null, features: Feature[]): Feature[] {
  if (shared === null) return features;
  const ids = new Set(features.map((f) => f.id));
  return shared.filter((f) => ids.has(f.id));
}

/** The facts' texts by part. */
export function describe(features: readonly Feature[]): Description {
  const d: Description = { principal: [], resource: [], context: [] };
  for (const f of features) d[f.part].push(f.text);
  return d;
}

/** What makes a class's sentence: its action, relation and the two answers. */
export interface ClassHead {
  action: UsersAction;
  relation: Relation;
  before: Answer;
  after: Answer;
}

/**
 * One line: what changes for whom. Both answers are told in the same words whatever changed
 * (the decision, or only the policies behind a denial), so a denial that stays one reads
 * "deny → deny, denied by X; was denied by Y".
 */
export function summaryOf(cls: ClassHead, facts: readonly Feature[]): string {
  const texts = (part: Part) =>
    facts.filter((f) => f.part === part && f.key !== 'relation').map((f) => f.text);
  const [principal, resource, context] = [texts('principal'), texts('resource'), texts('context')];
  const who = principal.length === 0 ? 'anyone' : `a user who ${principal.join(' and ')}`;
  const whose = resource.length === 0 ? '' : ` who ${resource.join(' and ')}`;
  const when = context.length === 0 ? '' : ` with ${context.join(', ')}`;
  const change = `${cls.before.decision} → ${cls.after.decision}`;
  const head = `${cls.action} by ${who} on ${RELATION_TEXT[cls.relation]}${whose}${when}`;
  return `${head}: ${change}, ${sideText(cls.after)}; was ${sideText(cls.before)}`;
}

function sideText(s: Answer): string {
  const ids = s.policies.length === 0 ? 'no policy' : s.policies.join(', ');
  if (s.decision === 'allow') return `allowed by ${ids}`;
  return s.policies.length === 0 ? 'denied, no policy permits' : `denied by ${ids}`;
}

/** Classes in the order a reader meets them: by action as the API lists them, larger first. */
export function sortClasses<C extends { action: UsersAction; count: number }>(classes: C[]): C[] {
  const order = (a: UsersAction) => USERS_ACTIONS.indexOf(a);
  return classes.sort((a, b) => order(a.action) - order(b.action) || b.count - a.count);
}
