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
import { ifMatchAccepts, parseIfMatch } from '../common/if-match.js';
import { parseJsonObject } from '../common/json.js';
import type { NewUser, User, UserPatch } from '../common/user.js';
import { checkRoles, validateNewUser, validateUserPatch } from '../common/validate.js';
import {
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  PreconditionFailedError,
  UnauthenticatedError,
  UpstreamTimeoutError,
  sendError,
  toCedargateError,
} from '../errors.js';
import type { CredentialVerifier, VerifiedCredential } from './authn/verifier.js';
import { buildCreateContext, buildUpdateContext } from './authz/context.js';
import type { PolicyStore } from './authz/policy-store.js';
import type { AuthzContext, Decision, PrincipalFacts, ResourceFacts } from './authz/types.js';
import { readBody } from './body.js';
import type { UserDirectory } from './directory.js';
import type { SidecarMetrics } from './metrics.js';
import { DECISION_HEADER, type ForwardPlan, type Forwarder } from './proxy.js';
import { canonicalPath, matchRoute, type RouteSpec } from './routes.js';
import { assertSameTenant, readTenantHeader } from './tenancy.js';
import { assertHostHeader, assertSingleHeaders } from './headers.js';
import type { UserRecord } from './upstream.js';

export interface PipelineDeps {
  verifier: CredentialVerifier;
  policies: PolicyStore;
  directory: UserDirectory;
  forwarder: Forwarder;
  metrics: SidecarMetrics;
  logger: Logger;
  enforce: boolean;
  bodyLimitBytes: number;
  /**
   * Told about every write that the backend acknowledged, before the client's response is sent
   * (cache invalidation across replicas); the response waits for the returned promise.
   */
  onUserChanged?: (tenantId: string, userId: string) => Promise<void> | void;
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
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request handler for the sidecar's data port. */
export function createPipeline(
  deps: PipelineDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { verifier, policies, directory, forwarder, metrics, logger } = deps;

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
  ): Promise<{ body: Buffer | undefined; input: NewUser | UserPatch | undefined }> {
    if (route.body === 'none') {
      await readBody(req, 0);
      return { body: undefined, input: undefined };
    }
    const raw = await readBody(req, deps.bodyLimitBytes);
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
    principal: User,
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
    assertSingleHeaders(req);
    assertHostHeader(req);
    const { credential, principal } = await authenticate(req);
    ex.principal = principal;
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

    const { body, input } = await readInput(req, route);
    const clientIfMatch = parseIfMatch(req.headers['if-match']);
    let target = await findTarget(route, tenantId, userId, false);
    const requestedRoles = input?.roles;
    if (requestedRoles !== undefined) checkRoles(requestedRoles, policies.current().roles);

    let refreshed = false; // re-read the target once when the client's If-Match disagrees
    // After the backend's 412 (the user changed between our read and the write), decide again on
    // the new version: once when the client named a version itself, a few times when it did not
    // (it never asked for a precondition, so losing a race should not surface as a 412).
    let redecisions = 0;
    const maxRedecisions = clientIfMatch === undefined ? 3 : 1;
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
        retryOn412: redecisions < maxRedecisions && target !== undefined,
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
        // The user changed between our read and the write: decide once more on the new version.
        redecisions++;
        if (userId !== undefined) directory.invalidate(tenantId, userId);
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
      (status) => record(ex, status),
      (err: unknown) => {
        const e = toCedargateError(err);
        // A body we did not read to the end must not be parsed as the next request.
        if (!req.complete) res.shouldKeepAlive = false;
        sendError(res, e, { 'x-request-id': ex.requestId });
        record(ex, e.status, err);
      },
    );
  };
}

/** The user in a backend's 200 answer, with its ETag; undefined when it is not one. */
function recordOf(response: {
  etag: string | undefined;
  body: Buffer | undefined;
}): UserRecord | undefined {
  if (response.etag === undefined || response.body === undefined) return undefined;
  try {
    const user = JSON.parse(response.body.toString('utf8')) as User;
    return typeof user.id === 'string' && Array.isArray(user.roles)
      ? { user, etag: response.etag }
      : undefined;
  } catch {
    return undefined;
  }
}

function factsOf(u: User): PrincipalFacts {
  return { id: u.id, tenantId: u.tenant_id, roles: u.roles, isOwner: u.is_owner };
}

/** List takes `limit` and `cursor`, each at most once; other routes take no query at all. */
function readQuery(route: RouteSpec, rawQuery: string): URLSearchParams | undefined {
  if (rawQuery === '') return undefined;
  const params = new URLSearchParams(rawQuery);
  const out = new URLSearchParams();
  for (const name of new Set(params.keys())) {
    if (!route.query.includes(name))
      throw new InvalidInputError(`unknown query parameter "${name}"`, {
        details: { parameter: name },
      });
    const values = params.getAll(name);
    if (values.length > 1)
      throw new InvalidInputError(`query parameter "${name}" given more than once`, {
        details: { parameter: name },
      });
    const value = values[0] as string;
    if (name === 'limit' && !/^(?:[1-9]\d{0,2})$/.test(value)) {
      throw new InvalidInputError('limit must be a whole number from 1 to 200', {
        details: { parameter: 'limit' },
      });
    }
    if (name === 'limit' && Number(value) > 200) {
      throw new InvalidInputError('limit must be a whole number from 1 to 200', {
        details: { parameter: 'limit' },
      });
    }
    if (name === 'cursor' && !/^[A-Za-z0-9_=.-]{1,512}$/.test(value)) {
      throw new InvalidInputError('cursor is not a cursor this API returned', {
        details: { parameter: 'cursor' },
      });
    }
    out.set(name, value);
  }
  return out;
}
