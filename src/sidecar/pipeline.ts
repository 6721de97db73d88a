/**
 * The sidecar's request pipeline, in the contract's order (§4): credential → tenant header →
 * tenant match → route → body → target user → roles → policy → forward. The first check that
 * fails answers; nothing denied is ever forwarded. Each step is a named function; the handler
 * only strings them together and records the outcome.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import { canonicalId, parseUserId } from '../common/ids.js';
import { parseIfMatch } from '../common/if-match.js';
import { parseJsonObject } from '../common/json.js';
import type { NewUser, UserPatch } from '../common/user.js';
import { validateNewUser, validateUserPatch } from '../common/validate.js';
import {
  MethodNotAllowedError,
  NotFoundError,
  UnauthenticatedError,
  sendError,
  toCedargateError,
} from '../errors.js';
import type { CredentialVerifier, VerifiedCredential } from './authn/verifier.js';
import type { PolicyStore } from './authz/policy-store.js';
import { readBody, type BodyBudget } from '../common/body.js';
import {
  createDecideAndForward,
  createScreenWrite,
  type CheckedRequest,
  type DecideAndForward,
  type DecideAndForwardDeps,
  type ScreenWrite,
} from './decide-and-forward.js';
import { createDecisionLog, type Exchange } from './decision-log.js';
import type { UserDirectory } from './directory.js';
import type { FairGate } from './fair-gate.js';
import type { SidecarMetrics } from './metrics.js';
import { answerPermissions } from './permissions.js';
import type { Forwarder } from './proxy.js';
import { REQUEST_ID_HEADER, requestIdsOf } from './request-id.js';
import { allowedMethods, canonicalPath, matchRoute, readQuery, type RouteSpec } from './routes.js';
import { assertIssuerMaySpeakFor, assertSameTenant, readTenantHeader } from './tenancy.js';
import { assertHostHeader, assertSingleCredential, assertSingleHeaders } from './headers.js';
import type { UserRecord } from './user-facts.js';
import { createWriteQueue, type WriteQueue } from './write-queue.js';
import type { RequestGate } from './request-gate.js';

export interface PipelineDeps {
  verifier: CredentialVerifier;
  policies: PolicyStore;
  directory: UserDirectory;
  forwarder: Forwarder;
  metrics: SidecarMetrics;
  logger: Logger;
  enforce: boolean;
  /** The notice of a deny no policy decided (DEFAULT_DENY_NOTICE), in the 403 and the answer. */
  defaultDenyNotice?: string;
  bodyLimitBytes: number;
  /** A body must have arrived this long after the head was checked (BODY_TIMEOUT_MS), or 408. */
  bodyTimeoutMs: number;
  /** The bytes all bodies in flight may hold together (BODY_BUDGET_BYTES); past it, 503. */
  bodyBudget: BodyBudget;
  /** Told about every decision once made (the candidate set in shadow); returns at once. */
  onDecided?: NonNullable<DecideAndForwardDeps['onDecided']>;
  /**
   * Before each authentication (at the head and again before the decision): resolves once every
   * change acknowledged anywhere has reached this replica's caches (the cluster's `catchUp`).
   */
  catchUp?: () => Promise<void>;
  /**
   * Uncached work (a cold credential, an uncached decision, a permissions answer) waits here
   * for its tenant's turn (fair-gate.ts); without it, it runs at once.
   */
  fair?: FairGate;
  /** Whole requests wait here for their tenant's share while the loop is busy; else none wait. */
  gate?: RequestGate;
}

/** The request handler for the sidecar's data port. */
export function createPipeline(
  deps: PipelineDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const record = createDecisionLog(deps);
  const decideDeps: DecideAndForwardDeps = {
    ...deps,
    authenticate: async (req) => (await authenticate(deps, req)).principal,
  };
  const steps: Steps = {
    deps,
    writes: createWriteQueue(),
    screenWrite: createScreenWrite(decideDeps),
    decideAndForward: createDecideAndForward(decideDeps),
  };
  return (req, res) => {
    // Named fields, not a spread of requestIdsOf's object: the spread cost ~3 µs per request.
    const { requestId, requestUid } = requestIdsOf(req);
    const ex: Exchange = { requestId, requestUid, startedAt: process.hrtime.bigint() };
    handle(steps, req, res, ex).then(
      (status) => {
        ex.releaseBody?.();
        record(ex, status);
      },
      (err: unknown) => {
        ex.releaseBody?.();
        const e = toCedargateError(err);
        // A body we did not read to the end must not be parsed as the next request.
        if (!req.complete) res.shouldKeepAlive = false;
        sendError(res, e, { [REQUEST_ID_HEADER]: ex.requestId });
        record(ex, e.status, err);
      },
    );
  };
}

/** What the handler's steps share across requests. */
interface Steps {
  deps: PipelineDeps;
  writes: WriteQueue;
  screenWrite: ScreenWrite;
  decideAndForward: DecideAndForward;
}

/** One request, step by step in the contract's order; resolves to the status answered. */
async function handle(
  steps: Steps,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
): Promise<number> {
  const { deps } = steps;
  const admitted = await admit(deps, req, ex);
  // Past the credential and the tenant match, so that no one can take another tenant's places.
  const leave = deps.gate === undefined ? undefined : await deps.gate.enter(admitted.tenantId);
  try {
    return await decideOrAnswer(steps, req, res, ex, admitted);
  } finally {
    leave?.();
  }
}

/** Everything after the head's checks: route, body, then the answer or the decision. */
async function decideOrAnswer(
  { deps, writes, screenWrite, decideAndForward }: Steps,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  { tenantId, principal }: { tenantId: string; principal: UserRecord },
): Promise<number> {
  const { route, userId, path } = resolveRoute(req, ex);
  ex.resource = userId ?? tenantId;
  const { body, input } = await readInput(deps, req, route, ex);
  if (route.answer === 'permissions') {
    return answerPermissions(deps, { res, ex, route, tenantId, userId, principal });
  }
  const checked: CheckedRequest = {
    req,
    res,
    ex,
    route,
    tenantId,
    userId,
    principal,
    path,
    body,
    input,
    clientIfMatch: parseIfMatch(req.headers['if-match']),
  };
  // Writes to one user through this replica are decided and applied one after another, each
  // on the version it changes; the body is read before the queue, so a slow one holds no one,
  // and a write denied on the facts at hand is refused before it takes a place (issue 22, 2).
  if (userId !== undefined && (route.method === 'PUT' || route.method === 'DELETE')) {
    await screenWrite(checked);
    const holder = checked.principal.user.id;
    return writes.run(`${tenantId}/${userId}`, holder, () => decideAndForward(checked));
  }
  return decideAndForward(checked);
}

/**
 * The head's checks, in the contract's order: the credential, single headers, Host, the
 * tenant header and the tenant match. Resolves to the request's tenant and its principal.
 */
async function admit(
  deps: PipelineDeps,
  req: IncomingMessage,
  ex: Exchange,
): Promise<{ tenantId: string; principal: UserRecord }> {
  // The credential first (contract §4): a request without one is 401 whatever else is wrong
  // with its headers. The check stays at the head so that no unauthenticated body is read.
  assertSingleCredential(req);
  const { credential, principal } = await authenticate(deps, req);
  ex.credentialTenantId = canonicalId(credential.tenantId);
  ex.principal = principal;
  assertSingleHeaders(req);
  assertHostHeader(req);
  const tenantId = readTenantHeader(req);
  ex.tenantId = tenantId;
  assertSameTenant(credential.tenantId, tenantId);
  return { tenantId, principal };
}

/** The verified credential and the user it names, who must still be a user of its tenant. */
async function authenticate(
  { verifier, directory, catchUp, fair }: PipelineDeps,
  req: IncomingMessage,
): Promise<{ credential: VerifiedCredential; principal: UserRecord }> {
  // First, so the revocation check and both user look-ups see every change made before now.
  if (catchUp !== undefined) await catchUp();
  const credential = await (fair === undefined
    ? verifier.verify(req.headers.authorization)
    : fair.verify(verifier, req));
  // Before any look-up in the tenant: an issuer that may not speak for it is answered 403.
  assertIssuerMaySpeakFor(credential, req);
  const principal = await directory.get(credential.tenantId, credential.subject);
  if (principal === null) {
    throw new UnauthenticatedError('the subject is not a user of its tenant', {
      category: 'unknown user',
    });
  }
  return { credential, principal };
}

/** The body, read within its limits, parsed and validated; what is forwarded is the input. */
async function readInput(
  deps: PipelineDeps,
  req: IncomingMessage,
  route: RouteSpec,
  ex: Exchange,
): Promise<{ body: Buffer | undefined; input: NewUser | UserPatch | undefined }> {
  const read = await readBody(req, {
    limit: route.body === 'none' ? 0 : deps.bodyLimitBytes,
    timeoutMs: deps.bodyTimeoutMs,
    budget: deps.bodyBudget,
  });
  ex.releaseBody = read.release;
  if (route.body === 'none') return { body: undefined, input: undefined };
  const obj = parseJsonObject(read.body, req.headers['content-type']);
  const input = route.body === 'new-user' ? validateNewUser(obj) : validateUserPatch(obj);
  // Forward exactly the object that was decided on: the validated value, serialized once.
  return { body: Buffer.from(JSON.stringify(input)), input };
}

/** The route, the checked user id and the canonical path it is decided on and forwarded to. */
function resolveRoute(
  req: IncomingMessage,
  ex: Exchange,
): { route: RouteSpec; userId: string | undefined; path: string } {
  const match = matchRoute(req.method, req.url);
  if (match === undefined) {
    const allow = allowedMethods(req.url);
    if (allow.length > 0) throw new MethodNotAllowedError(allow);
    throw new NotFoundError('no such route');
  }
  const { route } = match;
  ex.action = route.action;
  const userId = match.rawId === undefined ? undefined : parseUserId(match.rawId);
  const path = canonicalPath(route, userId, readQuery(route, match.rawQuery));
  return { route, userId, path };
}
