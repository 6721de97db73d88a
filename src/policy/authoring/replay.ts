/**
 * `policy replay`: the decision lines a sidecar logged (pino JSON, one per request), each decided
 * again by a candidate policy set; the requests whose answer would change, grouped into classes
 * (like `policy diff`'s) with their counts and request ids. The logged request is what the
 * sidecar's engine read — facts and ids, the context its builders made — so the candidate decides
 * exactly the question the live set was asked.
 */
import type { Relation } from './change-classes.js';
import { changeOf, ChangeClasses } from './replay-classes.js';
import { assertRoomFor, tooLongId } from './replay-input.js';
import { BODY_ROLE_ATTRIBUTES } from './schema-diff.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS } from '../types.js';
import type { AuthzContext, AuthzRequest, Decision, UsersAction } from '../types.js';

/** One logged decision that can be replayed. */
export interface LoggedDecision {
  /** The client's `request_id` (its X-Request-ID, or the server's id when it sent none). */
  requestId: string;
  /** The line's `request_uid` (unique per request), or its `request_id` for older logs. */
  requestUid: string;
  request: AuthzRequest;
  decision: 'allow' | 'deny';
  policies: string[];
  policyVersion: string | null;
  /**
   * The line's `target_facts` is `unread`: the sidecar decided it on the bare target (no policy
   * of the logged set read more of it than its id and tenant); its roles and owner flag are
   * empty, not the target's.
   */
  targetUnread?: true;
}

/** What one log line is to a replay. */
export type ParsedLine =
  | { kind: 'decision'; logged: LoggedDecision }
  /** A line of another message, or a decision line of a request refused before any decision. */
  | { kind: 'skipped'; why: 'not a decision' | 'undecided' }
  | { kind: 'malformed'; reason: string };

/** Parses one log line; never throws. */
export function parseDecisionLine(text: string): ParsedLine {
  if (text.trim() === '') return { kind: 'skipped', why: 'not a decision' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'malformed', reason: 'not JSON' };
  }
  if (!isObject(value)) return { kind: 'malformed', reason: 'not a JSON object' };
  if (value['msg'] !== 'decision') return { kind: 'skipped', why: 'not a decision' };
  const decision = value['decision'];
  if (decision === 'none') return { kind: 'skipped', why: 'undecided' };
  if (decision !== 'allow' && decision !== 'deny' && decision !== 'shadow_deny')
    return { kind: 'malformed', reason: `decision is ${JSON.stringify(decision)}` };
  // A client may reuse its X-Request-ID: the server's own unique id tells requests apart.
  const requestId = value['request_id'];
  if (typeof requestId !== 'string' || requestId === '')
    return { kind: 'malformed', reason: 'no request_id' };
  const uid = value['request_uid'];
  const requestUid = typeof uid === 'string' && uid !== '' ? uid : requestId;
  const longId = tooLongId({ request_id: requestId, request_uid: requestUid });
  if (longId !== null) return { kind: 'malformed', reason: longId };
  const policies = value['policies'];
  if (!isStringArray(policies)) return { kind: 'malformed', reason: 'policies is not a list' };
  if (value['request'] === undefined)
    return { kind: 'malformed', reason: 'no request (logged by a cedargate before replay)' };
  const request = parseRequest(value['request']);
  if (typeof request === 'string') return { kind: 'malformed', reason: `request: ${request}` };
  const version = value['policy_version'];
  return {
    kind: 'decision',
    logged: {
      requestId,
      requestUid,
      request,
      // Shadow mode forwarded it, but the policies denied it: the answer replayed is deny.
      decision: decision === 'allow' ? 'allow' : 'deny',
      policies,
      policyVersion: typeof version === 'string' ? version : null,
      ...(value['target_facts'] === 'unread' && { targetUnread: true as const }),
    },
  };
}

/** The logged request, checked field by field; a string says what is wrong. */
function parseRequest(v: unknown): AuthzRequest | string {
  if (!isObject(v)) return 'not an object';
  const action = v['action'];
  if (typeof action !== 'string' || !(USERS_ACTIONS as readonly string[]).includes(action))
    return `unknown action ${JSON.stringify(action)}`;
  const principal = parseUser(v['principal']);
  if (typeof principal === 'string') return `principal ${principal}`;
  const r = v['resource'];
  if (!isObject(r)) return 'resource is not an object';
  const kind = RESOURCE_KIND_OF[action as UsersAction];
  let resource: AuthzRequest['resource'];
  if (r['type'] !== kind) return `resource type of ${action} must be ${kind}`;
  if (kind === 'Tenant') {
    if (typeof r['id'] !== 'string') return 'resource id is not a string';
    resource = { type: 'Tenant', id: r['id'] };
  } else {
    const user = parseUser(r);
    if (typeof user === 'string') return `resource ${user}`;
    resource = { type: 'User', ...user };
  }
  const c = v['context'];
  if (!isObject(c)) return 'context is not an object';
  const context: AuthzContext = {};
  for (const [k, x] of Object.entries(c)) {
    if (typeof x !== 'string' && typeof x !== 'boolean' && !isStringArray(x))
      return `context.${k} is not a string, boolean or list of strings`;
    context[k] = x;
  }
  return { principal, action: action as UsersAction, resource, context };
}

function parseUser(
  v: unknown,
): { id: string; tenantId: string; roles: string[]; isOwner: boolean } | string {
  if (!isObject(v)) return 'is not an object';
  const { id, tenantId, roles, isOwner } = v;
  if (typeof id !== 'string') return 'id is not a string';
  if (typeof tenantId !== 'string') return 'tenantId is not a string';
  if (!isStringArray(roles)) return 'roles is not a list of strings';
  if (typeof isOwner !== 'boolean') return 'isOwner is not a boolean';
  return { id, tenantId, roles, isOwner };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

// ---------------------------------------------------------------------------------------------
// Replaying

/** One side's answer. */
export interface ReplayAnswer {
  decision: 'allow' | 'deny';
  policies: string[];
}

/** Logged requests of one action and relation whose answer changed the same way. */
export interface ReplayClass {
  action: UsersAction;
  relation: Relation;
  /** `decision`: allow ↔ deny; `policies`: denied both times, by other policies (other notices). */
  kind: 'decision' | 'policies';
  before: ReplayAnswer;
  after: ReplayAnswer & { notices: string[] };
  /** One line: what changes for whom. */
  summary: string;
  /** The facts every request of the class shares. */
  description: { principal: string[]; resource: string[]; context: string[] };
  count: number;
  /** The first {@link ReplayOptions.maxIdsPerClass} client request ids, in log order. */
  requestIds: string[];
  /**
   * The same requests' `request_uid`s, index for index: unique even where a client sent one
   * X-Request-ID twice (older logs without it: their `request_id`).
   */
  requestUids: string[];
}

/** The outcome of a replay (what `--json` prints). */
export interface ReplayReport {
  against: string;
  candidateVersion: string;
  lines: number;
  /** Decisions replayed. */
  replayed: number;
  changed: number;
  /** Lines of other messages, and decision lines of requests refused before any decision. */
  skipped: { notDecision: number; undecided: number };
  /** Lines that could not be read, with the first few (line number, why). */
  malformed: { count: number; first: { line: number; reason: string }[] };
  /** The policy set versions the log was written under, with their decision counts. */
  loggedVersions: Record<string, number>;
  /**
   * Logged requests whose body asks for a role the candidate's schema lacks: its API answers
   * them 422 (`invalid_roles`) before any policy, so they are counted here, not replayed as
   * decisions. Per role, the count and the first request id.
   */
  refused: { count: number; roles: Record<string, { count: number; firstRequestId: string }> };
  /**
   * Logged requests decided without the target's facts (`target_facts: "unread"`) of an action
   * whose policies the candidate's set reads them for: not decided (nobody read those facts),
   * counted, with the first request id.
   */
  unread: { count: number; firstRequestId: string | null };
  classes: ReplayClass[];
}

export interface ReplayOptions {
  /** The candidate set's directory and version, for the report. */
  against: string;
  candidateVersion: string;
  /** Decides a request under the candidate set (the sidecar's own store, or its engine). */
  decide: (request: AuthzRequest) => Omit<Decision, 'cached'>;
  /** Request ids kept per class; the count stays exact beyond it (default 1000). */
  maxIdsPerClass?: number;
  /** The candidate schema's roles: a body asking for another one is refused (422) there. */
  knownRoles?: readonly string[];
  /**
   * The actions the candidate's policies read the target's facts for (policy/target-reads.ts;
   * its store's `targetReads`). Absent: every action on a user.
   */
  targetReads?: readonly UsersAction[];
}

/** Feeds log lines one by one (a log can be large: nothing but the classes is kept). */
export interface Replay {
  addLine(text: string): void;
  report(): ReplayReport;
}

const MALFORMED_SHOWN = 5;
/** Request ids per class in the text report. */
const IDS_SHOWN = 20;

/** A replay over the candidate of `options`: each line counted, each changed answer classed. */
export function createReplay(options: ReplayOptions): Replay {
  const report = emptyReport(options);
  const classes = new ChangeClasses(options.maxIdsPerClass ?? 1000);
  return {
    addLine(text) {
      report.lines++;
      const parsed = parseDecisionLine(text);
      if (parsed.kind === 'skipped') return countSkipped(report, parsed.why);
      if (parsed.kind === 'malformed') return countMalformed(report, parsed.reason);
      const { logged } = parsed;
      report.replayed++;
      countVersion(report, logged.policyVersion ?? 'unknown');
      if (countRefused(report, logged, options.knownRoles)) return;
      if (countUnread(report, logged, options.targetReads)) return;
      const change = changeOf(logged, options.decide(logged.request));
      if (change === null) return;
      report.changed++;
      classes.add(logged, change, report.lines);
    },
    report() {
      return { ...report, classes: classes.all() };
    },
  };
}

/** The report before any line: counts at zero, no class. */
function emptyReport(options: ReplayOptions): ReplayReport {
  return {
    against: options.against,
    candidateVersion: options.candidateVersion,
    lines: 0,
    replayed: 0,
    changed: 0,
    skipped: { notDecision: 0, undecided: 0 },
    malformed: { count: 0, first: [] },
    loggedVersions: {},
    refused: { count: 0, roles: {} },
    unread: { count: 0, firstRequestId: null },
    classes: [],
  };
}

function countSkipped(report: ReplayReport, why: 'not a decision' | 'undecided'): void {
  if (why === 'undecided') report.skipped.undecided++;
  else report.skipped.notDecision++;
}

/** Counts a malformed line; the first few are kept with their line number. */
function countMalformed(report: ReplayReport, reason: string): void {
  report.malformed.count++;
  if (report.malformed.first.length < MALFORMED_SHOWN)
    report.malformed.first.push({ line: report.lines, reason });
}

function countVersion(report: ReplayReport, version: string): void {
  if (!Object.hasOwn(report.loggedVersions, version))
    assertRoomFor('versions', Object.keys(report.loggedVersions).length, report.lines);
  report.loggedVersions[version] = (report.loggedVersions[version] ?? 0) + 1;
}

/**
 * Counts a request whose body asks for roles the candidate's schema lacks, per role; true when
 * it does (its API refuses it with 422 before any policy: it is not replayed).
 */
function countRefused(
  report: ReplayReport,
  logged: LoggedDecision,
  knownRoles: readonly string[] | undefined,
): boolean {
  const unknown = unknownAskedFor(logged.request, knownRoles);
  if (unknown.length === 0) return false;
  report.refused.count++;
  const { roles } = report.refused;
  for (const role of unknown) {
    if (!Object.hasOwn(roles, role))
      assertRoomFor('refusedRoles', Object.keys(roles).length, report.lines);
    const r = (roles[role] ??= { count: 0, firstRequestId: logged.requestId });
    r.count++;
  }
  return true;
}

/**
 * Counts a request decided without the target's facts when the candidate reads them for its
 * action; true when it does (it is not replayed: the facts the candidate reads were never read).
 */
function countUnread(
  report: ReplayReport,
  logged: LoggedDecision,
  targetReads: readonly UsersAction[] | undefined,
): boolean {
  if (logged.targetUnread !== true) return false;
  const action = logged.request.action;
  const reads =
    targetReads === undefined ? RESOURCE_KIND_OF[action] === 'User' : targetReads.includes(action);
  if (!reads) return false;
  report.unread.count++;
  report.unread.firstRequestId ??= logged.requestId;
  return true;
}

/** The roles the request's body asks for that `known` lacks (none when `known` is unset). */
function unknownAskedFor(request: AuthzRequest, known: readonly string[] | undefined): string[] {
  if (known === undefined) return [];
  const out = new Set<string>();
  for (const k of BODY_ROLE_ATTRIBUTES) {
    const v = request.context[k];
    if (Array.isArray(v))
      for (const r of v as readonly string[]) if (!known.includes(r)) out.add(r);
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** The report as text for a person. */
export function renderReplay(r: ReplayReport, source: string): string {
  const lines: string[] = [];
  lines.push(
    `policy replay ${source} against ${r.against} (version ${r.candidateVersion}): ` +
      `${r.replayed} logged decision${r.replayed === 1 ? '' : 's'} replayed from ${r.lines} lines ` +
      `(${r.skipped.notDecision} not decisions, ${r.skipped.undecided} refused before any decision, ` +
      `${r.malformed.count} malformed)`,
  );
  const versions = Object.entries(r.loggedVersions)
    .map(([v, n]) => `${v} (${n})`)
    .join(', ');
  if (versions !== '') lines.push(`logged under policy versions: ${versions}`);
  if (r.malformed.count > 0) {
    const first = r.malformed.first.map((m) => `line ${m.line}: ${m.reason}`).join('; ');
    lines.push(
      `${r.malformed.count} malformed line${r.malformed.count === 1 ? '' : 's'} skipped (${first})`,
    );
  }
  for (const [role, x] of Object.entries(r.refused.roles))
    lines.push(
      `role \`${role}\` is not in the candidate's schema: ${x.count} logged request${x.count === 1 ? '' : 's'} ` +
        `asking for it would be refused (422, invalid_roles) by its API, not decided (e.g. ${x.firstRequestId})`,
    );
  const { unread } = r;
  if (unread.count > 0)
    lines.push(
      `${unread.count} logged request${unread.count === 1 ? ' was' : 's were'} decided without the target's facts ` +
        `(no policy of the logged set read them); the candidate's policies read them: not replayed (e.g. ${unread.firstRequestId})`,
    );
  if (r.classes.length === 0) lines.push('no logged request changes its answer');
  else
    lines.push(
      `${r.changed} logged request${r.changed === 1 ? '' : 's'} would be answered differently, ` +
        `in ${r.classes.length} class${r.classes.length === 1 ? '' : 'es'}:`,
    );
  r.classes.forEach((c, i) => {
    // A person reads a few ids; `--json` keeps up to maxIdsPerClass of them.
    // A client id shown twice in one class is told apart by the server's own id.
    const ids = c.requestIds.slice(0, IDS_SHOWN);
    const shown = ids.map((id, k) =>
      ids.indexOf(id) !== ids.lastIndexOf(id) ? `${id} (${c.requestUids[k]})` : id,
    );
    const more = c.count - shown.length;
    lines.push('');
    lines.push(`${i + 1}. ${c.summary}`);
    lines.push(
      `   ${c.count} request${c.count === 1 ? '' : 's'}: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
    );
    lines.push(`   before:    ${answerText(c.before, [])} (as logged)`);
    lines.push(`   after:     ${answerText(c.after, c.after.notices)}`);
  });
  return lines.join('\n') + '\n';
}

function answerText(a: ReplayAnswer, notices: string[]): string {
  const policies = a.policies.length === 0 ? '(no policy permits)' : a.policies.join(', ');
  const text = notices.length === 0 ? '' : ` — ${notices.map((n) => JSON.stringify(n)).join(' ')}`;
  return `${a.decision} by ${policies}${text}`;
}
