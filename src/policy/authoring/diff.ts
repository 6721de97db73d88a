/**
 * `policy diff`: every request the sidecar can build (enumerate.ts), decided by two policy sets;
 * the requests whose answer changes, grouped into classes a reviewer can read, each with one
 * concrete example and the determining policies before and after.
 */
import { compileSigner, roleRelevanceOf } from './atoms.js';
import type { RoleRelevance, Signer } from './atoms.js';
import { policyEstsOf, schemaShapesOf } from '../cedar-adapter.js';
import type { CompiledPolicySet } from '../cedar-adapter.js';
import { compileLoadedSet } from '../policy-set.js';
import type { LoadedPolicySet } from '../policy-set.js';
import { USERS_ACTIONS } from '../types.js';
import type { AuthzRequest, Decision, UsersAction } from '../types.js';
import { enumerateRequests, isRelevant, orbitOf, planEnumeration } from './enumerate.js';
import type { EnumeratedRequest, EnumerationPlan, PlanOptions, Relation } from './enumerate.js';
import { collectLiterals } from '../request-abstraction.js';
import {
  countEffect,
  oneSidedBy,
  oneSidedRoles,
  schemaDifferencesOf,
  withoutRole,
} from './schema-diff.js';
import type { SchemaDifference } from './schema-diff.js';

/** One side's answer, as a 403 or a forwarded request would show it. */
export interface DecisionSummary {
  decision: 'allow' | 'deny';
  policies: string[];
  notices: string[];
  errors?: string[];
}

/** Requests of one action whose answer changed the same way, for the same policies. */
export interface ChangeClass {
  action: UsersAction;
  /** `decision`: allow ↔ deny; `notices`: denied both times, with other notices. */
  kind: 'decision' | 'notices';
  before: DecisionSummary;
  after: DecisionSummary;
  /** One line: what changes for whom. */
  summary: string;
  /** What every request of the class has in common (the facts that matter). */
  description: { principal: string[]; resource: string[]; context: string[] };
  /** Requests in the class. */
  count: number;
  /** Enumerated requests matching the description; equal to `count` when it is exact. */
  matching: number;
  example: AuthzRequest;
}

/** The outcome of a diff (what `--json` prints). */
export interface DiffReport {
  base: string;
  candidate: string;
  /** Requests covered (each representative counts for its permutations when expanded). */
  requests: number;
  /** Representatives enumerated (each decided by both sets). */
  decided: number;
  /** Calls to Cedar, both sets together (one per distinct atom signature, see atoms.ts). */
  cedarCalls: number;
  /** Requests whose answer changed (among those both APIs accept). */
  changed: number;
  /**
   * What differs between the two schemas, stated first; a role difference counts the requests
   * only one side's API accepts, which are kept out of the classes.
   */
  schema: SchemaDifference[];
  /** Requests only one side's API accepts (the sum over `schema`). */
  oneSided: number;
  exhaustive: boolean;
  pruned: boolean;
  expanded: boolean;
  notes: string[];
  classes: ChangeClass[];
  ms: number;
}

/** Options of {@link diffPolicySets}. */
export interface DiffOptions extends PlanOptions {
  /** Called now and then with the requests decided so far and the planned upper bound. */
  onProgress?: (done: number, planned: number) => void;
  /** Injectable clock for the run time. */
  now?: () => number;
  /**
   * Ask Cedar once per distinct atom signature of each set (atoms.ts) and spread its answer over
   * every request with that signature; default true. False decides every request with Cedar.
   */
  signatures?: boolean;
  /** How a side is compiled (a test counts the calls); default compileLoadedSet. */
  compile?: (slot: string, set: LoadedPolicySet) => CompiledPolicySet;
}

const PROGRESS_EVERY = 1 << 15;
/** Effects of a one-sided role shown in the text report. */
const EFFECTS_SHOWN = 8;

/**
 * The most requests one diff decides. Past it the sets are refused before any is decided: a
 * schema of many roles that policies all name spans far more requests than any run could decide
 * (40 roles: about 10^38), and a diff must end in bounded time with a clear answer (issue 22).
 */
export const MAX_DIFF_REQUESTS = 10_000_000;

/** The sets span more requests than {@link MAX_DIFF_REQUESTS}: nothing was decided. */
export class DiffTooLargeError extends Error {
  constructor(
    readonly planned: number,
    readonly roles: number,
  ) {
    super(
      `too many requests to compare: the sets span ${planned.toPrecision(3)} requests ` +
        `(${roles} roles in the schema, enumerated up to what the policies tell apart), more than ` +
        `the ${MAX_DIFF_REQUESTS} a diff decides; compare smaller sets or a schema with fewer roles`,
    );
    this.name = 'DiffTooLargeError';
  }
}

/** Decides every enumerated request with both sets and groups the changes. */
export function diffPolicySets(
  base: LoadedPolicySet,
  candidate: LoadedPolicySet,
  options: DiffOptions = {},
): DiffReport {
  const now = options.now ?? Date.now;
  const started = now();
  const schema = schemaDifferencesOf(base.schema, candidate.schema);
  // A role one side lacks is never interchangeable with the others: every request carrying it
  // must be seen as such (counted apart), so it is enumerated by name.
  const oneSided = oneSidedRoles(schema);
  const found = collectLiterals(base, candidate);
  const literals = { ...found, roles: new Set([...found.roles, ...oneSided]) };
  const compile = options.compile ?? compileLoadedSet;
  const sideNotes: string[] = [];
  const sides = [
    { name: 'base', set: base, slot: 'policy-diff-base' },
    { name: 'candidate', set: candidate, slot: 'policy-diff-candidate' },
  ].map(({ name, set, slot }) => {
    const none = { name, signer: null, atoms: 0, relevance: null, set, slot };
    if (options.signatures === false) return none;
    const ests = policyEstsOf(set.texts);
    const answer = compileSigner(ests, set.schema);
    if (!answer.ok) {
      sideNotes.push(
        `${name}: ${answer.reason}, so every request was decided by Cedar one by one (no signature pruning)`,
      );
      return none;
    }
    const rel = roleRelevanceOf(ests, set.schema);
    if (!rel.ok) sideNotes.push(`${name}: ${rel.reason}, so roles are not enumerated up to it`);
    return {
      ...none,
      signer: answer.signer,
      atoms: answer.atoms,
      relevance: rel.ok ? rel.relevance : null,
    };
  });
  const plan = planEnumeration([base, candidate], literals, {
    ...options,
    relevance: everywhere(unionRelevance(sides.map((s) => s.relevance)), oneSided, [
      base,
      candidate,
    ]),
  });
  if (plan.size > MAX_DIFF_REQUESTS) throw new DiffTooLargeError(plan.size, plan.roles.length);
  const notes = [...plan.notes, ...sideNotes];
  let cedarCalls = 0;
  const [before, after] = sides.map((side) => {
    const compiled = compile(side.slot, side.set);
    return memoizedDecider(compiled, side.signer, () => cedarCalls++);
  }) as [Decider, Decider];

  interface Group {
    cls: Omit<ChangeClass, 'summary' | 'description' | 'matching'>;
    /** The facts every member so far shares: kept as they come, so no member is held. */
    shared: Feature[] | null;
  }
  const groups = new Map<string, Group>();
  const builders = new Map<UsersAction, ReturnType<typeof createIndexBuilder>>();
  let decided = 0;
  let requests = 0;
  let changed = 0;
  let outside = 0;
  let compared = 0;
  for (const representative of enumerateRequests(plan)) {
    decided++;
    if (decided % PROGRESS_EVERY === 0) options.onProgress?.(decided, plan.size);
    const er = representative;
    const members = plan.expanded ? orbitOf(er, plan) : [er];
    const weight = (er.weight ?? 1) * members.length;
    requests += weight;
    // Its one-sided roles are named, so every member of the orbit is one-sided alike.
    const by = oneSided.length === 0 ? null : oneSidedBy(er.request, schema);
    if (by !== null) {
      by.requests += weight;
      by.example ??= er.request;
      outside += weight;
      // Only the side that accepts it decides it, with and without the role: what it gives.
      const side = by.kind === 'role-added' ? after : before;
      const without = withoutRole(er.request, by.role as string);
      countEffect(by, er.request, side(er.request), side(without), weight);
      continue;
    }
    compared++;
    let builder = builders.get(er.request.action);
    if (builder === undefined)
      builders.set(er.request.action, (builder = createIndexBuilder(plan.quotient !== null)));
    // The classes hold every permutation when expanded, so the index does too.
    const facts = members.map((m) => featuresOf(m, plan));
    for (const fs of facts) builder.add(fs, er.weight ?? 1);
    const b = before(er.request);
    const a = after(er.request);
    const kind =
      b.decision !== a.decision
        ? 'decision'
        : b.decision === 'deny' && b.notices.join('\n') !== a.notices.join('\n')
          ? 'notices'
          : null;
    if (kind === null) continue;
    changed += weight;
    const key = JSON.stringify([
      er.request.action,
      er.relation,
      kind,
      b.decision,
      b.policies,
      a.decision,
      a.policies,
    ]);
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        cls: {
          action: er.request.action,
          kind,
          before: b,
          after: a,
          count: 0,
          example: er.request,
        },
        shared: null,
      };
      groups.set(key, g);
    }
    g.cls.count += weight;
    for (const fs of facts) {
      if (g.shared === null) g.shared = fs;
      else {
        const ids = new Set(fs.map((f) => f.id));
        g.shared = g.shared.filter((f) => ids.has(f.id));
      }
    }
  }

  const indexes = new Map([...builders].map(([action, b]) => [action, b.index()]));
  const classes = describeGroups(indexes, [...groups.values()]);
  const signed = sides.filter((s) => s.signer !== null);
  if (signed.length > 0)
    notes.push(
      `decided once per signature (which policies a request satisfies, evaluated from their atoms: ` +
        `${signed.map((s) => `${s.name} ${s.atoms}`).join(', ')}): ` +
        `${cedarCalls} Cedar calls for ${2 * compared} decisions, each answer applied to every request of the action with the same signature`,
    );
  return {
    base: base.dir,
    candidate: candidate.dir,
    requests,
    decided,
    cedarCalls,
    changed,
    schema,
    oneSided: outside,
    exhaustive: plan.exhaustive,
    pruned: plan.pruned,
    expanded: plan.expanded,
    notes,
    classes,
    ms: now() - started,
  };
}

type Decider = (request: AuthzRequest) => DecisionSummary;

/**
 * `relevance` with each of `roles` counting in every role set (principal, resource, every
 * context attribute of both schemas): under the quotient a one-sided role's membership must
 * stay exact, since it decides whether a request is accepted at all.
 */
function everywhere(
  relevance: RoleRelevance | null,
  roles: readonly string[],
  sets: readonly LoadedPolicySet[],
): RoleRelevance | null {
  if (relevance === null || roles.length === 0) return relevance;
  const names = new Set(['principal', 'resource']);
  for (const set of sets)
    for (const ctx of Object.values(schemaShapesOf(set.schema.text).contexts))
      for (const k of Object.keys(ctx)) names.add(k);
  const perRole = { ...relevance.perRole };
  for (const r of roles) perRole[r] = [...names].sort();
  return { ...relevance, perRole };
}

/** Both sides' relevance together, or null when either side's is unknown. */
function unionRelevance(sides: (RoleRelevance | null)[]): RoleRelevance | null {
  if (sides.some((s) => s === null)) return null;
  const perRole: Record<string, string[]> = {};
  const allRoles = new Set<string>();
  for (const s of sides as RoleRelevance[]) {
    for (const p of s.allRoles) allRoles.add(p);
    for (const [r, ps] of Object.entries(s.perRole))
      perRole[r] = [...new Set([...(perRole[r] ?? []), ...ps])].sort();
  }
  return { perRole, allRoles: [...allRoles].sort() };
}

/**
 * Decides with `compiled`, asking Cedar once per signature. An answer with errors is not
 * spread: Cedar decides each request of that signature itself. Memory holds one answer per
 * distinct signature, however many requests share it.
 */
function memoizedDecider(
  compiled: CompiledPolicySet,
  signer: Signer | null,
  counted: () => void,
): Decider {
  const answers = new Map<string, DecisionSummary>();
  const ask = (request: AuthzRequest) => {
    counted();
    return summarize(compiled.authorize(request));
  };
  if (signer === null) return ask;
  return (request) => {
    const sig = signer(request);
    if (sig === null) return ask(request);
    const known = answers.get(sig);
    if (known !== undefined) return known;
    const d = ask(request);
    if (d.errors === undefined) answers.set(sig, d);
    return d;
  };
}

function summarize(d: Omit<Decision, 'cached'>): DecisionSummary {
  const out: DecisionSummary = {
    decision: d.allowed ? 'allow' : 'deny',
    policies: d.policies,
    notices: d.notices,
  };
  if (d.errors.length > 0) out.errors = d.errors;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Describing a class by the facts its requests share

type Part = 'principal' | 'resource' | 'context';
/** One fact of a request: `key` names the question, `text` the answer as a person reads it. */
interface Feature {
  part: Part;
  key: string;
  text: string;
  /** `key` and `text` together: the index's name for this answer. */
  id: string;
}

const RELATION_TEXT: Record<Relation, string> = {
  self: 'the same user (themselves)',
  'same-tenant': 'another user of the same tenant',
  'other-tenant': 'a user of another tenant',
  'own-tenant': 'their own tenant',
};

function featuresOf(er: EnumeratedRequest, plan: EnumerationPlan): Feature[] {
  const { request: r, relation } = er;
  const { literals } = plan;
  const roles = plan.expanded ? plan.roles : plan.namedRoles;
  const out: Feature[] = [];
  const add = (part: Part, key: string, text: string) =>
    out.push({ part, key, text, id: `${key}\t${text}` });
  // Under the role quotient a representative's membership of a set that does not count for the
  // role is arbitrary: only the facts that count are described, and those every request of the
  // representative's class shares.
  const q = plan.quotient;
  const counts = (role: string, set: string) => q === null || isRelevant(q, role, set);
  const facts = (part: Part, f: { roles: readonly string[]; isOwner: boolean }) => {
    for (const role of roles.filter((r) => counts(r, part)))
      add(
        part,
        `${part}.role.${role}`,
        f.roles.includes(role) ? `holds ${role}` : `does not hold ${role}`,
      );
    add(part, `${part}.owner`, f.isOwner ? 'is the owner' : 'is not the owner');
  };
  const userId = (id: string) =>
    literals.users.has(id) ? `is User "${id}"` : 'is a user no policy names';
  const tenantId = (id: string) =>
    literals.tenants.has(id) ? `in Tenant "${id}"` : 'in a tenant no policy names';

  if (literals.users.size > 0) add('principal', 'principal.id', userId(r.principal.id));
  if (literals.tenants.size > 0)
    add('principal', 'principal.tenant', tenantId(r.principal.tenantId));
  facts('principal', r.principal);
  add('resource', 'relation', RELATION_TEXT[relation]);
  if (r.resource.type === 'User' && relation !== 'self') {
    if (literals.users.size > 0) add('resource', 'resource.id', userId(r.resource.id));
    if (literals.tenants.size > 0)
      add('resource', 'resource.tenant', tenantId(r.resource.tenantId));
    facts('resource', r.resource);
  } else if (r.resource.type === 'Tenant' && literals.tenants.size > 0) {
    add('resource', 'resource.tenant', tenantId(r.resource.id).replace(/^in /, 'is '));
  }
  for (const [k, v] of Object.entries(r.context)) {
    if (typeof v === 'boolean') add('context', `context.${k}`, v ? `${k}` : `not ${k}`);
    else if (typeof v === 'string') add('context', `context.${k}`, `${k} = ${JSON.stringify(v)}`);
    else {
      const set = v;
      if (q === null || q.allRoles.includes(k))
        add(
          'context',
          `context.${k}.empty`,
          set.length === 0 ? `${k} is empty` : `${k} is not empty`,
        );
      for (const role of roles.filter((r) => counts(r, k)))
        add(
          'context',
          `context.${k}.${role}`,
          set.includes(role) ? `${k} has ${role}` : `${k} lacks ${role}`,
        );
    }
  }
  return out;
}

/** A bitset per feature answer over one action's requests, to count matches fast. */
interface ActionIndex {
  size: number;
  bits: Map<string, Uint32Array>;
  /** Requests each indexed one stands for (the role quotient); null: one each. */
  weights: Float64Array | null;
}

/**
 * Builds one action's index as its requests come (the diff's own pass: each request's facts are
 * read once, and no request is held); bitsets and weights grow as needed.
 */
function createIndexBuilder(weighted: boolean) {
  let words = 1024;
  const bits = new Map<string, Uint32Array>();
  let weights = weighted ? new Float64Array(words * 32) : null;
  let size = 0;
  return {
    add(features: readonly Feature[], weight: number): void {
      const i = size++;
      if (i >>> 5 >= words) {
        words *= 2;
        for (const [id, b] of bits) {
          const grown = new Uint32Array(words);
          grown.set(b);
          bits.set(id, grown);
        }
        if (weights !== null) {
          const grown = new Float64Array(words * 32);
          grown.set(weights);
          weights = grown;
        }
      }
      if (weights !== null) weights[i] = weight;
      for (const { id } of features) {
        let b = bits.get(id);
        if (b === undefined) bits.set(id, (b = new Uint32Array(words)));
        b[i >>> 5] = (b[i >>> 5] as number) | (1 << (i & 31));
      }
    },
    index: (): ActionIndex => ({ size, bits, weights }),
  };
}

function countMatching(index: ActionIndex, features: readonly Feature[]): number {
  const words = Math.ceil(index.size / 32);
  const sets = features.map((f) => index.bits.get(f.id));
  const { weights } = index;
  let n = 0;
  for (let w = 0; w < words; w++) {
    let x = w === words - 1 && index.size % 32 !== 0 ? (1 << (index.size % 32)) - 1 : 0xffffffff;
    for (const s of sets) {
      x &= s === undefined ? 0 : (s[w] as number);
      if (x === 0) break;
    }
    if (x === 0) continue;
    if (weights === null) n += popcount(x >>> 0);
    else
      for (let b = 0; x !== 0; b++, x >>>= 1) if ((x & 1) !== 0) n += weights[w * 32 + b] as number;
  }
  return n;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * The facts shared by every member of each group, then reduced: a shared fact is dropped when
 * the others alone still pick out exactly the class (or no more requests than before).
 */
function describeGroups(
  indexes: ReadonlyMap<UsersAction, ActionIndex>,
  groups: {
    cls: Omit<ChangeClass, 'summary' | 'description' | 'matching'>;
    shared: Feature[] | null;
  }[],
): ChangeClass[] {
  const out: ChangeClass[] = [];
  for (const g of groups) {
    const index = indexes.get(g.cls.action) as ActionIndex;
    const shared = g.shared ?? [];
    const matching = countMatching(index, shared);
    // "does not hold", "lacks", "not" first: the positive facts read better when both would do.
    const order = [...shared].sort((a, b) => weight(a) - weight(b));
    let kept = shared;
    for (const f of order) {
      const without = kept.filter((k) => k !== f);
      if (countMatching(index, without) === matching) kept = without;
    }
    const description = {
      principal: kept.filter((f) => f.part === 'principal').map((f) => f.text),
      resource: kept.filter((f) => f.part === 'resource').map((f) => f.text),
      context: kept.filter((f) => f.part === 'context').map((f) => f.text),
    };
    out.push({ ...g.cls, summary: summaryOf(g.cls, description), description, matching });
  }
  const actionOrder = (a: UsersAction) => USERS_ACTIONS.indexOf(a);
  return out.sort((a, b) => actionOrder(a.action) - actionOrder(b.action) || b.count - a.count);
}

function weight(f: Feature): number {
  return /^(does not|is not|not |.* lacks |.* is not empty|is a user no|in a tenant no)/.test(
    f.text,
  )
    ? 0
    : 1;
}

function summaryOf(
  cls: Omit<ChangeClass, 'summary' | 'description' | 'matching'>,
  d: ChangeClass['description'],
): string {
  const who = d.principal.length === 0 ? 'anyone' : `a user who ${d.principal.join(' and ')}`;
  const [relation, ...facts] = d.resource;
  const on =
    relation === undefined
      ? ''
      : ` on ${relation}${facts.length === 0 ? '' : ` who ${facts.join(' and ')}`}`;
  const when = d.context.length === 0 ? '' : ` with ${d.context.join(', ')}`;
  const ids = (s: DecisionSummary) =>
    s.policies.length === 0 ? 'no policy' : s.policies.join(', ');
  const change = `${cls.before.decision} → ${cls.after.decision}`;
  if (cls.kind === 'notices') {
    return `${cls.action} by ${who}${on}${when}: still denied (${change}), now by ${ids(cls.after)}; was ${ids(cls.before)}`;
  }
  const side = (s: DecisionSummary) =>
    s.decision === 'allow'
      ? `allowed by ${ids(s)}`
      : s.policies.length === 0
        ? 'denied, no policy permits'
        : `denied by ${ids(s)}`;
  return `${cls.action} by ${who}${on}${when}: ${change}, ${side(cls.after)}; was ${side(cls.before)}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** The report as text for a person. */
export function renderDiff(r: DiffReport): string {
  const lines: string[] = [];
  const seconds = (r.ms / 1000).toFixed(1);
  lines.push(
    `policy diff ${r.base} → ${r.candidate}: ${r.requests} requests` +
      (r.decided === r.requests ? '' : ` (${r.decided} representatives)`) +
      ` decided by both sets in ${seconds} s` +
      (!r.exhaustive
        ? ' (NOT exhaustive)'
        : r.expanded
          ? ' (exhaustive)'
          : ' (exhaustive up to role symmetry)'),
  );
  if (r.schema.length > 0) {
    lines.push('');
    lines.push('the schemas differ:');
    for (const d of r.schema) {
      lines.push(`  - ${d.text}`);
      if (d.role === undefined) continue;
      const side = d.kind === 'role-added' ? 'candidate' : 'base';
      lines.push(
        `    ${d.requests} request${d.requests === 1 ? '' : 's'} only the ${side}'s API accepts, kept out of the classes` +
          (d.example === null ? '' : `; e.g. ${JSON.stringify(d.example)}`),
      );
      const changes = d.effects.reduce((n, g) => n + g.count, 0);
      const role = `\`${d.role}\``;
      if (changes === 0) {
        lines.push(`    carrying ${role} changes none of the ${side}'s answers`);
        continue;
      }
      lines.push(
        `    carrying ${role} changes the ${side}'s answer for ${changes} of them (against the same request without it):`,
      );
      const effects = [...d.effects].sort((x, y) => y.count - x.count);
      for (const g of effects.slice(0, EFFECTS_SHOWN)) {
        const by = (a: (typeof g)['with']) =>
          `${a.decision} by ${a.policies.length === 0 ? '(no policy permits)' : a.policies.join(', ')}`;
        lines.push(
          `      ${g.action}: ${by(g.with)}, without it ${by(g.without)}: ${g.count}; e.g. ${JSON.stringify(g.example)}`,
        );
      }
      if (effects.length > EFFECTS_SHOWN)
        lines.push(`      and ${effects.length - EFFECTS_SHOWN} more (--json lists them)`);
    }
    lines.push('');
  }
  const both = r.oneSided === 0 ? '' : ` of the ${r.requests - r.oneSided} both APIs accept`;
  if (r.classes.length === 0) lines.push(`no request${both} changes its decision`);
  else
    lines.push(
      `${r.changed} request${r.changed === 1 ? '' : 's'}${both} change, in ${r.classes.length} class${r.classes.length === 1 ? '' : 'es'}:`,
    );
  r.classes.forEach((c, i) => {
    lines.push('');
    lines.push(`${i + 1}. ${c.summary}`);
    lines.push(
      `   ${c.count} request${c.count === 1 ? '' : 's'}` +
        (c.matching === c.count
          ? ', exactly the requests this description covers'
          : `, ${c.count} of the ${c.matching} this description covers`),
    );
    const list = (xs: string[]) => (xs.length === 0 ? 'any' : xs.join('; '));
    lines.push(`   principal: ${list(c.description.principal)}`);
    lines.push(`   resource:  ${list(c.description.resource)}`);
    lines.push(`   context:   ${list(c.description.context)}`);
    lines.push(`   before:    ${sideText(c.before)}`);
    lines.push(`   after:     ${sideText(c.after)}`);
    lines.push(`   example:   ${JSON.stringify(c.example)}`);
  });
  if (r.notes.length > 0) {
    lines.push('');
    lines.push('notes:');
    for (const n of r.notes) lines.push(`  - ${n}`);
  }
  return lines.join('\n') + '\n';
}

function sideText(s: DecisionSummary): string {
  const policies = s.policies.length === 0 ? '(no policy permits)' : s.policies.join(', ');
  const notices =
    s.notices.length === 0 ? '' : ` — ${s.notices.map((n) => JSON.stringify(n)).join(' ')}`;
  const errors = s.errors === undefined ? '' : ` [errors: ${s.errors.join('; ')}]`;
  return `${s.decision} by ${policies}${notices}${errors}`;
}
