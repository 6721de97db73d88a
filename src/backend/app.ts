/**
 * The users API (contract §3) as the backend serves it: the system of record behind the
 * sidecar. No policy here — the sidecar decided — but every request must prove it came through
 * the sidecar (trust header), and the checks that are the backend's own run in the contract's
 * order: trust (401) → tenant header (400) → route (404) → body (400/413/415) → target user
 * (404) → roles (422) → If-Match (412).
 */
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Logger } from '../common/logger.js';
import { parseTenantId, parseUserId } from '../common/ids.js';
import { assertTrusted } from '../common/trust.js';
import { SUBJECT_HEADER, TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { OWNER_ROLE, etagOf, publicUser, type StoredUser, type UserPatch } from '../common/user.js';
import { checkRoles, validateNewUser, validateUserPatch } from '../common/validate.js';
import {
  CedargateError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
  errorResponse,
  sendError,
} from '../errors.js';
import { expectedVersionFor } from '../common/if-match.js';
import { readJsonBody } from '../common/body.js';
import { parseCursor, parseLimit } from '../common/list-query.js';
import { DEFAULT_PAGE_MAX_BYTES } from './store/page-budget.js';
import { noSuchUser, type UserPage, type UserStore } from './store/store.js';
import {
  DEFAULT_STORE_TIMEOUT_MS,
  storeWithinTimeout,
  type RequestStore,
} from './store/store-timeout.js';

export interface BackendDeps {
  store: UserStore;
  /** The schema's Role enum, as of now (the schema may be reloaded). */
  allowedRoles: () => readonly string[];
  /** The secret the sidecar sends in `x-cedargate-trust`. */
  trustSecret: string;
  logger: Logger;
  bodyLimitBytes: number;
  /** A list page's byte budget (`PAGE_MAX_BYTES`); default `DEFAULT_PAGE_MAX_BYTES`. */
  pageMaxBytes?: number;
  /**
   * A request's store calls are answered within this (`STORE_TIMEOUT_MS`), or 503; default
   * `DEFAULT_STORE_TIMEOUT_MS`.
   */
  storeTimeoutMs?: number;
}

/** What the request pipeline learned, kept on `res.locals`. */
interface Locals {
  tenantId: string;
}

/** Builds the backend's express app: health, then trust and tenant, then the users API. */
export function createBackendApp(deps: BackendDeps): express.Express {
  const { logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // ETags are ours (one per stored version), never express's hash of the body.
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(logRequests(logger));
  app.get('/healthz', healthz(deps.store));
  app.use(requireTrust(deps.trustSecret));
  app.use(requireTenant);
  // express would answer OPTIONS itself (200, text); this API has no such route.
  app.use((req, _res, next) => {
    if (req.method === 'OPTIONS') throw new NotFoundError('no such route');
    next();
  });
  app.use(usersRouter(deps));
  app.use(() => {
    throw new NotFoundError('no such route');
  });
  app.use(handleErrors(logger));
  return app;
}

/** 200 while the store answers, 503 otherwise. Mounted before the trust check. */
function healthz(store: UserStore): RequestHandler {
  return async (_req, res) => {
    try {
      await store.ping();
    } catch (err) {
      throw new UnavailableError('the users store is not answering', { cause: err });
    }
    sendJson(res, 200, { status: 'ok' });
  };
}

/** The users API of contract §3, each route its checks in the contract's order. */
function usersRouter(deps: BackendDeps): express.Router {
  // One budget per request, from its arrival: a PUT's read and write share it.
  const storeFor = (): RequestStore =>
    storeWithinTimeout(deps.store, deps.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS);
  const users = express.Router({ caseSensitive: true, strict: true });
  users.get('/v1/users', async (req, res) => {
    const page = await storeFor().listUsers(tenantOf(res), {
      limit: parseLimit(req.query['limit']),
      cursor: parseCursor(req.query['cursor']),
      maxBytes: deps.pageMaxBytes ?? DEFAULT_PAGE_MAX_BYTES,
    });
    await streamPage(res, page);
  });
  users.post('/v1/users', async (req, res) => {
    const input = validateNewUser(await readJsonBody(req, { limit: deps.bodyLimitBytes }));
    checkRoles(input.roles, deps.allowedRoles());
    const user = await storeFor().createUser(tenantOf(res), input);
    res.set('location', `/v1/users/${user.id}`);
    sendUser(res, 201, user);
  });
  users.get('/v1/users/:id', async (req, res) => {
    sendUser(res, 200, await findUser(storeFor(), tenantOf(res), userIdOf(req)));
  });
  users.put('/v1/users/:id', async (req, res) => {
    sendUser(res, 200, await updateUser(deps, storeFor(), req, tenantOf(res)));
  });
  users.delete('/v1/users/:id', async (req, res) => {
    await deleteUser(storeFor(), req, tenantOf(res));
    res.set('cache-control', 'no-store').status(204).end();
  });
  return users;
}

async function updateUser(
  deps: BackendDeps,
  store: RequestStore,
  req: Request,
  tenantId: string,
): Promise<StoredUser> {
  const id = userIdOf(req);
  const patch = validateUserPatch(await readJsonBody(req, { limit: deps.bodyLimitBytes }));
  const current = await findUser(store, tenantId, id);
  if (patch.roles !== undefined) checkRoles(patch.roles, deps.allowedRoles());
  const expected = expectedVersionFor(req.get('if-match'), current);
  assertOwnerKeepsAdmin(current, patch);
  // The generation the matched tag was read in: the write is refused if the store left it.
  return store.updateUser(tenantId, id, patch, expected, current.generation);
}

async function deleteUser(store: RequestStore, req: Request, tenantId: string): Promise<void> {
  const id = userIdOf(req);
  const current = await findUser(store, tenantId, id);
  const expected = expectedVersionFor(req.get('if-match'), current);
  if (current.is_owner) {
    throw new ConflictError('the tenant owner cannot be deleted', {
      details: { invariant: 'one_owner' },
    });
  }
  await store.deleteUser(tenantId, id, expected, current.generation);
}

/**
 * The store's own invariant, whatever the policies say (they may be in shadow mode, or wrong):
 * every tenant keeps exactly one owner, and the owner holds `admin`.
 */
function assertOwnerKeepsAdmin(current: StoredUser, patch: UserPatch): void {
  if (current.is_owner && patch.roles !== undefined && !patch.roles.includes(OWNER_ROLE)) {
    throw new ConflictError(`the tenant owner always holds the ${OWNER_ROLE} role`, {
      details: { invariant: 'owner_is_admin' },
    });
  }
}

function tenantOf(res: Response): string {
  return (res.locals as Locals).tenantId;
}

function userIdOf(req: Request): string {
  return parseUserId(String(req.params['id']));
}

async function findUser(store: RequestStore, tenantId: string, id: string): Promise<StoredUser> {
  const user = await store.getUser(tenantId, id);
  if (user === null) throw noSuchUser();
  return user;
}

function sendJson(res: Response, status: number, body: unknown): void {
  res
    .status(status)
    .set({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
    .send(JSON.stringify(body));
}

/**
 * Writes a list page user by user, waiting whenever the socket's buffer is full: the page is
 * held once, as the store read it (within its byte budget), never a second time as one JSON
 * string, and a client that reads slowly holds no more than that.
 */
async function streamPage(res: Response, page: UserPage): Promise<void> {
  res
    .status(200)
    .set({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  let sep = '';
  res.write('{"users":[');
  // Each user is let go once written.
  for (let u = page.users.shift(); u !== undefined; u = page.users.shift()) {
    if (!res.write(sep + JSON.stringify(publicUser(u)))) {
      await drainedOrClosed(res);
      if (res.destroyed) return;
    }
    sep = ',';
  }
  res.end(`],"next_cursor":${JSON.stringify(page.nextCursor)}}`);
}

/** Resolves when the response can take more, or is gone (a client that left never drains). */
function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendUser(res: Response, status: number, user: StoredUser): void {
  res.set('etag', etagOf(user));
  sendJson(res, status, publicUser(user));
}

/** 401 unless the request carries the sidecar's secret. /healthz is mounted before this. */
function requireTrust(secret: string): RequestHandler {
  return (req, _res, next) => {
    assertTrusted(req.headers[TRUST_HEADER], secret);
    next();
  };
}

/** X-Tenant-ID: exactly one, UUID-shaped. Node would join two into one value; we refuse. */
const requireTenant: RequestHandler = (req, res, next) => {
  const values = req.headersDistinct[TENANT_HEADER];
  if (values === undefined || values.length === 0) {
    throw new InvalidInputError('the X-Tenant-ID header is required', {
      details: { field: 'X-Tenant-ID' },
    });
  }
  if (values.length > 1) {
    throw new InvalidInputError('X-Tenant-ID must be sent once', {
      details: { field: 'X-Tenant-ID' },
    });
  }
  (res.locals as Locals).tenantId = parseTenantId(values[0] ?? '');
  next();
};

/** One log line per request, with the tenant and the acting user the sidecar named. */
function logRequests(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const subject = req.get(SUBJECT_HEADER);
      logger.info(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          tenant: (res.locals as Partial<Locals>).tenantId,
          subject: subject === undefined ? undefined : subject.slice(0, 64),
          ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        },
        'request',
      );
    });
    next();
  };
}

/**
 * The one error handler: contract errors as they are; express's own 4xx (e.g. a path with
 * bad percent-encoding) as 400; anything else as 500, logged with its cause.
 */
function handleErrors(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let e = err;
    if (!(err instanceof CedargateError)) {
      const status = (err as { status?: unknown } | null)?.status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        e = new InvalidInputError('malformed request', { cause: err });
      }
    }
    const { status } = errorResponse(e);
    if (status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
    else if (e instanceof UnauthenticatedError)
      logger.warn({ reason: e.reason, path: req.path }, 'untrusted request');
    // A 413 leaves body bytes unread on the socket; closing is the only safe way on.
    sendError(res, e, status === 413 ? { connection: 'close' } : {});
  };
}
