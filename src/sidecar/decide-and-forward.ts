/**
 * The decide-and-write loop: decide on the facts as they are now → check the client's If-Match →
 * forward → after the backend's 412 (the user changed through another replica between our read
 * and the write) decide again on the new version, a few times → then 503. Nothing denied is
 * forwarded; every acknowledged write drops the old user here and on the other replicas before
 * the client sees the answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ifMatchAccepts, type IfMatch } from '../common/if-match.js';
import type { NewUser, UserPatch } from '../common/user.js';
import { canonicalId } from '../common/ids.js';
import { checkRoles } from '../common/validate.js';
import {
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  UpstreamTimeoutError,
  type CedargateError,
} from '../errors.js';
import type { Exchange } from './decision-log.js';
import {
  decideAsked,
  decideOrDeny,
  requestOfAsk,
  type Ask,
  type DecideDeps,
  type Outcome,
} from './decide-or-deny.js';
import type { AskedDecision } from './authz/policy-store.js';
import type { UserDirectory } from './directory.js';
import type { SidecarMetrics } from './metrics.js';
import { DECISION_HEADER } from '../common/headers.js';
import type { ForwardPlan, Forwarder } from './proxy.js';
import type { RouteSpec } from './routes.js';
import { parseUserRecord } from './upstream.js';
import type { UserRecord } from './user-facts.js';

/**
 * How many times a write that lost a race to the backend is decided again on the new version.
 * Past that, 503 with Retry-After: a client that sent no If-Match never gets 412 (RFC 9110
 * §13.1.1).
 */
export const MAX_REDECISIONS = 3;

/** A request whose head, route and body have been checked: what is left is to decide it. */
export interface CheckedRequest {
  req: IncomingMessage;
  res: ServerResponse;
  ex: Exchange;
  route: RouteSpec;
  tenantId: string;
  userId: string | undefined;
  /**
   * Who asks: the principal as authenticated at the head, replaced by the one authenticated
   * again before each decision of a write (the decision log's copy is only written).
   */
  principal: UserRecord;
  /** The canonical path (and query) decided on and forwarded. */
  path: string;
  /** The exact bytes forwarded: the validated input, serialized once. */
  body: Buffer | undefined;
  input: NewUser | UserPatch | undefined;
  clientIfMatch: IfMatch;
  /**
   * Set by the write screen when it had to ask Cedar: the decision at the queue's head, which
   * then finds the screen's answer in the cache, is still counted as the miss it cost.
   */
  screenMissed?: boolean;
  /** The write screen's question and the facts it was built from (see `screenedQuestion`). */
  screened?: Screened | undefined;
}

/** What the write screen asked, and on which records of the principal and the target. */
interface Screened {
  principal: UserRecord;
  target: UserRecord | undefined;
  asked: AskedDecision;
}

export interface DecideAndForwardDeps extends DecideDeps {
  directory: UserDirectory;
  forwarder: Forwarder;
  metrics: SidecarMetrics;
  /** The principal as of now: the credential checked again and the user read again. */
  authenticate: (req: IncomingMessage) => Promise<UserRecord>;
}

/** Decides a checked request and forwards it when allowed; resolves to the status answered. */
export type DecideAndForward = (r: CheckedRequest) => Promise<number>;

export function createDecideAndForward(deps: DecideAndForwardDeps): DecideAndForward {
  return (r) => decideAndForward(deps, r);
}

/**
 * Refuses a write that the policies deny on the facts at hand — the principal as authenticated
 * at the head, the target as this replica knows it — before it takes a place in the user's write
 * queue: a writer with no right to a user must not hold up that user's writes (issue 22 item 2).
 * What it lets through is decided again, on the facts as they are then, at the queue's head.
 */
export type ScreenWrite = (r: CheckedRequest) => Promise<void>;

export function createScreenWrite(deps: DecideAndForwardDeps): ScreenWrite {
  return async (r) => {
    // In shadow mode a denial is forwarded anyway: it waits its turn like any write.
    if (!deps.enforce) return;
    const target = await findTarget(deps.directory, r, false);
    if (r.input?.roles !== undefined) checkRoles(r.input.roles, deps.policies.current().roles);
    // Only a denial is recorded here (as the request's decision); an allow is decided again.
    // Uncached, the screen waits its tenant's turn like any decision (the fair scheduler).
    const ask = askOf(r, target);
    const asked = deps.policies.ask(requestOfAsk(ask), ask.source);
    const { decision } = await decideAsked(deps, r.tenantId, asked, ask.source);
    r.screenMissed = !decision.cached;
    r.screened = { principal: r.principal, target, asked };
    if (!decision.allowed) await decide(deps, r, target);
  };
}

async function decideAndForward(deps: DecideAndForwardDeps, r: CheckedRequest): Promise<number> {
  const { req, res } = r;
  // A request that waited (for its body, for the writes queued before it) is decided on the
  // facts as they are now: the credential checked again (exp, nbf, revocation) and the
  // principal read again, so a demotion, deletion or revocation that arrived meanwhile counts.
  if (r.route.method !== 'GET') await authenticateAgain(deps, r);
  // A read whose policies read nothing of the target but its id and tenant is decided without
  // looking the target up: the backend answers for the user (404 for one it does not hold).
  let bare = bareTargetOf(deps, r);
  let target = bare === undefined ? await findTarget(deps.directory, r, false) : undefined;
  if (r.input?.roles !== undefined) checkRoles(r.input.roles, deps.policies.current().roles);
  let refreshed = false; // re-read the target once when the client's If-Match disagrees
  for (let redecisions = 0; ;) {
    const decided =
      bare === undefined ? await decide(deps, r, target) : await decideBare(deps, r, bare);
    if (decided === undefined) {
      // A reload came between the plan and the decision: the set that decided may read it.
      bare = undefined;
      target = await findTarget(deps.directory, r, false);
      continue;
    }
    const { shadowDeny } = decided;
    if (target !== undefined && !ifMatchAccepts(r.clientIfMatch, target.etag)) {
      // Our copy may be stale: ask the backend once before refusing.
      if (refreshed) throw new PreconditionFailedError();
      refreshed = true;
      target = await findTarget(deps.directory, r, true);
      continue;
    }
    const outcome = await deps.forwarder.forward(req, res, planOf(deps, r, target, shadowDeny));
    if (outcome.kind === 'failed') throw failed(deps, r, outcome.error);
    if (outcome.kind === 'answered') return outcome.status;
    if (r.userId !== undefined) deps.directory.invalidate(r.tenantId, r.userId);
    if (++redecisions > MAX_REDECISIONS) {
      throw new UnavailableError('the user kept changing under this write; try again', {
        retryAfterSeconds: 1,
      });
    }
    // Decide once more, on the new version and on the facts as they are now.
    await authenticateAgain(deps, r);
    bare = undefined;
    target = await findTarget(deps.directory, r, true);
  }
}

async function findTarget(
  directory: UserDirectory,
  r: CheckedRequest,
  fresh: boolean,
): Promise<UserRecord | undefined> {
  if (r.route.resource !== 'user' || r.userId === undefined) return undefined;
  const target = await directory.get(r.tenantId, r.userId, { fresh });
  if (target === null) throw new NotFoundError('no such user in this tenant');
  return target;
}

/** A target known by construction only: its id and tenant, and the set that said so. */
interface BareTarget {
  record: UserRecord;
  /** The version of the set whose policies read nothing more of it for this action. */
  version: string;
}

/**
 * The bare target of a read no policy of the live set reads more of than its id and tenant
 * (`targetReads`, policy/target-reads.ts), or undefined when the target must be looked up: a
 * write (its If-Match is the version read), a read with the client's If-Match (checked here), a
 * read of oneself (the principal's facts are the target's), or a candidate set in shadow (it may
 * read what the live one does not). Its tenant is the principal's, which is the request's: the
 * backend is asked in that tenant and answers 404 for a user of any other. The facts no policy
 * reads are left empty; the decision cache keys them as given, and they decide nothing.
 */
function bareTargetOf(deps: DecideAndForwardDeps, r: CheckedRequest): BareTarget | undefined {
  const { route, userId } = r;
  if (route.method !== 'GET' || route.resource !== 'user' || userId === undefined) return undefined;
  if (r.clientIfMatch !== undefined || deps.onDecided !== undefined) return undefined;
  const principal = r.principal.user;
  const id = canonicalId(userId);
  if (id === canonicalId(principal.id)) return undefined;
  const live = deps.policies.current();
  if (live.targetReads?.includes(route.action) !== false) return undefined;
  const user = {
    id,
    tenant_id: principal.tenant_id,
    name: '',
    roles: [],
    is_owner: false,
    avatar_digest: null,
  };
  return { version: live.version, record: { user, etag: '' } };
}

/**
 * Decides on the bare target; undefined when the set that decided is not the one the plan was
 * made on (a reload in between: it may read the target), allowed or denied alike.
 */
async function decideBare(
  deps: DecideAndForwardDeps,
  r: CheckedRequest,
  bare: BareTarget,
): Promise<Outcome | undefined> {
  r.ex.targetFacts = 'unread';
  const sameSet = () => r.ex.decided?.policyVersion === bare.version;
  try {
    const outcome = await decide(deps, r, bare.record);
    if (sameSet()) return outcome;
  } catch (err) {
    if (!(err instanceof ForbiddenError) || sameSet()) throw err;
  }
  delete r.ex.targetFacts;
  return undefined;
}

/** The principal as of now, carried by the request; the decision log is told of it. */
async function authenticateAgain(deps: DecideAndForwardDeps, r: CheckedRequest): Promise<void> {
  r.principal = await deps.authenticate(r.req);
  r.ex.principal = r.principal;
}

/** The one decide-or-deny step (decide-or-deny.ts), for this request on `target`. */
async function decide(
  deps: DecideAndForwardDeps,
  r: CheckedRequest,
  target: UserRecord | undefined,
): Promise<Outcome> {
  const ask = askOf(r, target, r.screenMissed === true);
  const asked = screenedQuestion(r, target);
  // A re-decision after a 412 counts by its own answer, and asks its own question.
  r.screenMissed = false;
  r.screened = undefined;
  return decideOrDeny(deps, ask, asked);
}

/**
 * The write screen's question, put to the store again, when the queue's head holds the very
 * records it was built from: the principal as authenticated again (the directory hands out the
 * record it keeps until that user changes, expires or is invalidated) and the target as found
 * again. The action, the tenant and the input are the request's own, so the Cedar request is
 * the one the screen built: nothing is built again. The decision is still looked up (and made,
 * on a miss) on the set live now, so a reload or a dropped cache in between counts as before.
 * Any other record, and the question is asked anew.
 */
function screenedQuestion(
  r: CheckedRequest,
  target: UserRecord | undefined,
): AskedDecision | undefined {
  const s = r.screened;
  if (s === undefined || s.principal !== r.principal || s.target !== target) return undefined;
  return s.asked.again();
}

/** One literal, not a spread of another (a spread cost microseconds per request). */
function askOf(r: CheckedRequest, target: UserRecord | undefined, screenMissed = false): Ask {
  return {
    ex: r.ex,
    action: r.route.action,
    tenantId: r.tenantId,
    principal: r.principal.user,
    target,
    input: r.input,
    source: 'request',
    screenMissed,
  };
}

// Per process, not per request: the forwarder only reads them.
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const SHADOW_DENY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  [DECISION_HEADER]: 'deny',
});

function planOf(
  deps: DecideAndForwardDeps,
  r: CheckedRequest,
  target: UserRecord | undefined,
  shadowDeny: boolean,
): ForwardPlan {
  const plan: ForwardPlan = {
    method: r.route.method,
    path: r.path,
    tenantId: r.tenantId,
    subject: r.principal.user.id,
    requestId: r.ex.requestId,
    body: r.body,
    ifMatch: isWrite(r) ? target?.etag : undefined,
    retryOn412: target !== undefined,
    responseHeaders: shadowDeny ? SHADOW_DENY_HEADERS : NO_HEADERS,
  };
  if (r.userId !== undefined && isWrite(r)) {
    plan.bufferResponse = r.route.method === 'PUT';
    plan.beforeRespond = afterWrite(deps, r.tenantId, r.userId, plan.bufferResponse, plan.ifMatch);
  }
  return plan;
}

/** What an acknowledged write tells the directory, here and (through the hook) elsewhere. */
function afterWrite(
  deps: DecideAndForwardDeps,
  tenantId: string,
  userId: string,
  isPut: boolean,
  replaced: string | undefined,
): NonNullable<ForwardPlan['beforeRespond']> {
  const since = deps.directory.mark();
  return (status, response) => {
    // A 5xx may come after the store applied the write (a 503 `may_have_been_applied`: no
    // replica confirmed it): forget the user rather than decide on the copy from before it. The
    // answer goes to the client as it is; the write is never sent again from here.
    if (status >= 500) deps.directory.invalidate(tenantId, userId);
    if (status >= 300) return undefined;
    // The backend's answer to a PUT is the user as it now is: keep it rather than reading it
    // back on the next request. Anything else about this user is dropped.
    const record = isPut ? recordOf(response) : undefined;
    // Other replicas learn of it from the store's own change event (docs/scaling.md).
    if (record !== undefined) deps.directory.remember(tenantId, userId, record, since, replaced);
    else deps.directory.invalidate(tenantId, userId);
    return undefined;
  };
}

function failed(
  deps: DecideAndForwardDeps,
  r: CheckedRequest,
  error: CedargateError,
): CedargateError {
  // A write that failed on the way back may still have been applied: forget the user here
  // rather than decide the next request on a stale copy (the store's event tells the others).
  if (r.userId !== undefined && isWrite(r)) deps.directory.invalidate(r.tenantId, r.userId);
  const kind = error instanceof UpstreamTimeoutError ? 'timeout' : 'unavailable';
  deps.metrics.upstreamErrors.inc({ kind });
  return error;
}

function isWrite(r: CheckedRequest): boolean {
  return r.route.method === 'PUT' || r.route.method === 'DELETE';
}

/**
 * The user in a backend's 200 answer, with its ETag, through the one converter of that edge;
 * undefined when it is not one (the caller then forgets the user rather than keep a guess).
 */
function recordOf(response: {
  etag: string | undefined;
  body: Buffer | undefined;
}): UserRecord | undefined {
  if (response.etag === undefined || response.body === undefined) return undefined;
  try {
    return parseUserRecord(response.body.toString('utf8'), response.etag);
  } catch {
    return undefined;
  }
}
