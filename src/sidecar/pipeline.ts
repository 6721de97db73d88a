/**
 * The sidecar's request pipeline, in the contract's order (§4): credential → tenant header →
 * tenant match → route → body → target user → roles → policy → forward. The first check that
 * fails answers; nothing denied is ever forwarded. Each step is a small named function; this
 * module only strings them together and records the outcome.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import { parseUserId } from '../common/ids.js';
import { ifMatchAccepts, parseIfMatch, type IfMatch } from '../common/if-match.js';
import { parseJsonObject } from '../common/json.js';
import type { NewUser, UserPatch } from '../common/user.js';
import { checkRoles, validateNewUser, validateUserPatch } from '../common/validate.js';
import {
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamTimeoutError,
  sendError,
  toCedargateError,
} from '../errors.js';
import type { CredentialVerifier, VerifiedCredential } from './authn/verifier.js';
import { buildCreateContext, buildUpdateContext } from '../policy/context.js';
import type { PolicyStore } from './authz/policy-store.js';
import type { AuthzContext, Decision, PrincipalFacts, ResourceFacts } from '../policy/types.js';
import { readBody, type BodyBudget } from '../common/body.js';
import type { UserDirectory } from './directory.js';
import type { SidecarMetrics } from './metrics.js';
import { DECISION_HEADER, type ForwardPlan, type Forwarder } from './proxy.js';
import { canonicalPath, matchRoute, readQuery, type RouteSpec } from './routes.js';
import { assertSameTenant, readTenantHeader } from './tenancy.js';
import { assertHostHeader, assertSingleCredential, assertSingleHeaders } from './headers.js';
import { parseUserRecord, type UserFacts, type UserRecord } from './upstream.js';
import { createWriteQueue } from './write-queue.js';

export interface PipelineDeps {
  verifier: CredentialVerifier;
  policies: PolicyStore;
  directory: UserDirectory;
  forwarder: Forwarder;
  metrics: SidecarMetrics;
  logger: Logger;
  enforce: boolean;
  bodyLimitBytes: number;
  /** A body must have arrived this long after the head was checked (BODY_TIMEOUT_MS), or 408. */
  bodyTimeoutMs: number;
  /** The bytes all bodies in flight may hold together (BODY_BUDGET_BYTES); past it, 503. */
  bodyBudget: BodyBudget;
  /**
   * Told about every write that the backend acknowledged, before the client's response is sent
   * (cache invalidation across replicas); the response waits for the returned promise.
   */
  onUserChanged?: (tenantId: string, userId: string) => Promise<void> | void;
}

/** A request whose head, route and body have been checked: what is left is to decide it. */
interface Decided {
  req: IncomingMessage;
  res: ServerResponse;
  ex: Exchange;
  route: RouteSpec;
  tenantId: string;
  userId: string | undefined;
  path: string;
  body: Buffer | undefined;
  input: NewUser | UserPatch | undefined;
  clientIfMatch: IfMatch;
}

/** What one request has established so far; logged as the decision line. */
interface Exchange {
  requestId: string;
  startedAt: bigint;
  tenantId?: string;
  principal?: UserRecord;
  action?: string;
  resource?: string;
  decision?: Decision;
  shadowDeny?: boolean;
  /** Gives the body's share of the budget back once the request is done with it. */
  releaseBody?: () => void;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * How many times a write that lost a race to the backend (its 412: the user changed through
 * another replica between our read and the write) is decided again on the new version. Past
 * that, 503 with Retry-After: a client that sent no If-Match never gets 412 (RFC 9110 §13.1.1).
 */
const MAX_REDECISIONS = 3;

/** The request handler for the sidecar's data port. */
export function createPipeline(
  deps: PipelineDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { verifier, policies, directory, forwarder, metrics, logger } = deps;
  const writes = createWriteQueue();

  async function authenticate(
    req: IncomingMessage,
  ): Promise<{ credential: VerifiedCredential; principal: UserRecord }> {
    const credential = await verifier.verify(req.headers.authorization);
    const principal = await directory.get(credential.tenantId, credential.subject);
    if (principal === null)
      throw new UnauthenticatedError('the subject is not a user of its tenant');
    return { credential, principal };
  }

  async function readInput(
    req: IncomingMessage,
    route: RouteSpec,
    ex: Exchange,
  ): Promise<{ body: Buffer | undefined; input: NewUser | UserPatch | undefined }> {
    const limit = route.body === 'none' ? 0 : deps.bodyLimitBytes;
    const read = await readBody(req, {
      limit,
      timeoutMs: deps.bodyTimeoutMs,
      budget: deps.bodyBudget,
    });
    ex.releaseBody = read.release;
    if (route.body === 'none') return { body: undefined, input: undefined };
    const raw = read.body;
    const obj = parseJsonObject(raw, req.headers['content-type']);
    const input = route.body === 'new-user' ? validateNewUser(obj) : validateUserPatch(obj);
    // Forward exactly the object that was decided on: the validated value, serialized once.
    return { body: Buffer.from(JSON.stringify(input)), input };
  }

  async function findTarget(
    route: RouteSpec,
    tenantId: string,
    userId: string | undefined,
    fresh: boolean,
  ): Promise<UserRecord | undefined> {
    if (route.resource !== 'user' || userId === undefined) return undefined;
    const target = await directory.get(tenantId, userId, { fresh });
    if (target === null) throw new NotFoundError('no such user in this tenant');
    return target;
  }

  function decide(
    route: RouteSpec,
    principal: UserFacts,
    tenantId: string,
    target: UserRecord | undefined,
    input: NewUser | UserPatch | undefined,
  ): Decision {
    // Acting on oneself: principal and resource are one entity, and the target record may be the
    // fresher of the two (re-read after a 412): decide on one version of that user, never two.
    const principalFacts: PrincipalFacts = factsOf(
      target !== undefined && target.user.id === principal.id ? target.user : principal,
    );
    const resource: ResourceFacts =
      target === undefined
        ? { type: 'Tenant', id: tenantId }
        : { type: 'User', ...factsOf(target.user) };
    let context: AuthzContext = {};
    if (route.action === 'users:update' && target !== undefined && input !== undefined) {
      context = buildUpdateContext(target.user, input as UserPatch);
    } else if (route.action === 'users:create' && input !== undefined) {
      context = buildCreateContext(input as NewUser);
    }
    return policies.decide({ principal: principalFacts, action: route.action, resource, context });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<number> {
    // The credential first (contract §4): a request without one is 401 whatever else is wrong
    // with its headers. The check stays at the head so that no unauthenticated body is read.
    assertSingleCredential(req);
    const { credential, principal } = await authenticate(req);
    ex.principal = principal;
    assertSingleHeaders(req);
    assertHostHeader(req);
    const tenantId = readTenantHeader(req);
    ex.tenantId = tenantId;
    assertSameTenant(credential.tenantId, tenantId);

    const match = matchRoute(req.method, req.url);
    if (match === undefined) throw new NotFoundError('no such route');
    const { route } = match;
    ex.action = route.action;
    const userId = match.rawId === undefined ? undefined : parseUserId(match.rawId);
    const query = readQuery(route, match.rawQuery);
    const path = canonicalPath(route, userId, query);
    ex.resource = userId ?? tenantId;

    const { body, input } = await readInput(req, route, ex);
    const clientIfMatch = parseIfMatch(req.headers['if-match']);
    const request: Decided = {
      req,
      res,
      ex,
      route,
      tenantId,
      userId,
      path,
      body,
      input,
      clientIfMatch,
    };
    // Writes to one user through this replica are decided and applied one after another, each
    // on the version it changes; the body is read before the queue, so a slow one holds no one.
    if (userId !== undefined && (route.method === 'PUT' || route.method === 'DELETE')) {
      return writes.run(`${tenantId}/${userId}`, () => decideAndForward(request));
    }
    return decideAndForward(request);
  }

  async function decideAndForward(r: Decided): Promise<number> {
    const { req, res, ex, route, tenantId, userId, path, body, input, clientIfMatch } = r;
    // A request that waited (for its body, for the writes queued before it) is decided on the
    // facts as they are now: the credential checked again (exp, nbf, revocation) and the
    // principal read again, so a demotion, deletion or revocation that arrived meanwhile counts.
    const waited = route.method !== 'GET';
    let principal = waited ? (await authenticate(req)).principal : (ex.principal as UserRecord);
    ex.principal = principal;
    let target = await findTarget(route, tenantId, userId, false);
    const requestedRoles = input?.roles;
    if (requestedRoles !== undefined) checkRoles(requestedRoles, policies.current().roles);

    let refreshed = false; // re-read the target once when the client's If-Match disagrees
    // After the backend's 412 (the user changed through another replica between our read and
    // the write), decide again on the new version, a few times; then 503, never 412.
    let redecisions = 0;
    for (;;) {
      const decision = decide(route, principal.user, tenantId, target, input);
      ex.decision = decision;
      ex.shadowDeny = !decision.allowed && !deps.enforce;
      metrics.countDecision(
        route.action,
        decision.allowed ? 'allow' : deps.enforce ? 'deny' : 'shadow_deny',
        decision.cached,
      );
      if (!decision.allowed && deps.enforce) {
        throw new ForbiddenError(`the policies deny ${route.action}`, {
          notices: decision.notices,
          details: {
            policies: decision.policies,
            action: route.action,
            ...(decision.ignoredRoles !== undefined && { ignored_roles: decision.ignoredRoles }),
          },
        });
      }
      if (target !== undefined && !ifMatchAccepts(clientIfMatch, target.etag)) {
        // Our copy may be stale: ask the backend once before refusing.
        if (!refreshed) {
          refreshed = true;
          target = await findTarget(route, tenantId, userId, true);
          continue;
        }
        throw new PreconditionFailedError();
      }
      const plan: ForwardPlan = {
        method: route.method,
        path,
        tenantId,
        subject: principal.user.id,
        requestId: ex.requestId,
        body,
        ifMatch: route.method === 'PUT' || route.method === 'DELETE' ? target?.etag : undefined,
        retryOn412: target !== undefined,
        responseHeaders: ex.shadowDeny ? { [DECISION_HEADER]: 'deny' } : {},
      };
      if (userId !== undefined && (route.method === 'PUT' || route.method === 'DELETE')) {
        const changedId = userId;
        const isPut = route.method === 'PUT';
        const since = directory.mark();
        plan.bufferResponse = isPut;
        plan.beforeRespond = (status, response) => {
          if (status >= 300) return undefined;
          // The backend's answer to a PUT is the user as it now is: keep it rather than reading
          // it back on the next request. Anything else about this user is dropped.
          const record = isPut ? recordOf(response) : undefined;
          if (record !== undefined) directory.remember(tenantId, changedId, record, since);
          else directory.invalidate(tenantId, changedId);
          return deps.onUserChanged?.(tenantId, changedId);
        };
      }
      const outcome = await forwarder.forward(req, res, plan);
      if (outcome.kind === 'retry') {
        if (userId !== undefined) directory.invalidate(tenantId, userId);
        if (++redecisions > MAX_REDECISIONS) {
          throw new UnavailableError('the user kept changing under this write; try again', {
            retryAfterSeconds: 1,
          });
        }
        // Decide once more, on the new version and on the facts as they are now.
        principal = (await authenticate(req)).principal;
        ex.principal = principal;
        target = await findTarget(route, tenantId, userId, true);
        continue;
      }
      if (outcome.kind === 'failed') {
        // A write that failed on the way back may still have been applied: forget the user here
        // and on the other replicas rather than decide the next request on a stale copy.
        if (userId !== undefined && (route.method === 'PUT' || route.method === 'DELETE')) {
          directory.invalidate(tenantId, userId);
          void deps.onUserChanged?.(tenantId, userId);
        }
        metrics.upstreamErrors.inc({
          kind: outcome.error instanceof UpstreamTimeoutError ? 'timeout' : 'unavailable',
        });
        throw outcome.error;
      }
      return outcome.status;
    }
  }

  function record(ex: Exchange, status: number, err?: unknown): void {
    const seconds = Number(process.hrtime.bigint() - ex.startedAt) / 1e9;
    const decision =
      ex.decision === undefined
        ? 'none'
        : ex.decision.allowed
          ? 'allow'
          : ex.shadowDeny === true
            ? 'shadow_deny'
            : 'deny';
    const action = ex.action ?? 'none';
    metrics.observeRequest(action, decision, status, seconds);
    if (!logger.isLevelEnabled('info')) return;
    const line: Record<string, unknown> = {
      request_id: ex.requestId,
      tenant: ex.tenantId,
      principal: ex.principal?.user.id,
      action,
      resource: ex.resource,
      decision,
      policies: ex.decision?.policies,
      ignored_roles: ex.decision?.ignoredRoles,
      status,
      latency_ms: Math.round(seconds * 1e6) / 1e3,
    };
    if (err !== undefined) {
      const e = toCedargateError(err);
      line.error = e.code;
      if (e instanceof UnauthenticatedError) line.reason = e.reason;
      if (e.status >= 500) line.err = err;
    }
    logger.info(line, 'decision');
  }

  return (req, res) => {
    const incomingId = req.headers['x-request-id'];
    const ex: Exchange = {
      requestId:
        typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
      startedAt: process.hrtime.bigint(),
    };
    handle(req, res, ex).then(
      (status) => {
        ex.releaseBody?.();
        record(ex, status);
      },
      (err: unknown) => {
        ex.releaseBody?.();
        const e = toCedargateError(err);
        // A body we did not read to the end must not be parsed as the next request.
        if (!req.complete) res.shouldKeepAlive = false;
        sendError(res, e, { 'x-request-id': ex.requestId });
        record(ex, e.status, err);
      },
    );
  };
}

/**
 * The user in a backend's 200 answer, as the facts the directory keeps, with its ETag;
 * undefined when it is not one (the caller then forgets the user rather than keep a guess).
 * The directory keeps it only under the key of the user and tenant it names.
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

function factsOf(u: UserFacts): PrincipalFacts {
  return { id: u.id, tenantId: u.tenant_id, roles: u.roles, isOwner: u.is_owner };
}
