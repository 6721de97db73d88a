/**
 * The error model of the contract (§4): one class per code, and the one function that turns
 * any thrown value into a status and the contract's JSON body. No other module writes an
 * error response; they throw (or pass) one of these and let `sendError` answer.
 */
import type { ServerResponse } from 'node:http';

export type ErrorCode =
  | 'invalid_input'
  | 'unauthenticated'
  | 'tenant_mismatch'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'conflict'
  | 'precondition_failed'
  | 'payload_too_large'
  | 'header_too_large'
  | 'unsupported_media_type'
  | 'invalid_roles'
  | 'internal'
  | 'upstream_unavailable'
  | 'unavailable'
  | 'upstream_timeout';

/** The JSON body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  notices?: string[];
}

export interface ErrorOptions {
  details?: Record<string, unknown>;
  notices?: string[];
  cause?: unknown;
}

/** Base class: a contract error code, its HTTP status, and an optional cause kept for logs. */
export abstract class CedargateError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly notices: string[] | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
    this.notices = options.notices;
  }

  /** The contract's JSON body for this error. */
  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    if (this.notices !== undefined) body.notices = this.notices;
    return body;
  }
}

export class InvalidInputError extends CedargateError {
  readonly code = 'invalid_input';
  readonly status = 400;
}

/**
 * The error code of a 401's `WWW-Authenticate: Bearer` challenge (RFC 6750 §3.1): none when the
 * request carried no bearer credential at all (§3.1: "SHOULD NOT include an error code"),
 * `invalid_request` when the Authorization header is malformed, `invalid_token` when a token
 * was sent and is malformed, expired, revoked or otherwise not accepted.
 */
export type BearerChallenge = 'none' | 'invalid_request' | 'invalid_token';

/**
 * Why a credential was refused, as the client may be told: a short, fixed category (never the
 * token, never a detail an attacker chose). It is the 401's `error_description`, its body's
 * `details.reason` and the log's `category`; the precise reason stays in the log only.
 */
export type CredentialProblem =
  | 'no credential'
  | 'malformed request'
  | 'malformed token'
  | 'bad header'
  | 'wrong type'
  | 'unknown issuer'
  | 'unknown key'
  | 'bad signature'
  | 'expired'
  | 'not yet valid'
  | 'wrong audience'
  | 'missing claim'
  | 'missing or bad user claim'
  | 'missing or bad tenant claim'
  | 'unknown user'
  | 'revoked';

const DEFAULT_PROBLEM: Record<BearerChallenge, CredentialProblem> = {
  none: 'no credential',
  invalid_request: 'malformed request',
  invalid_token: 'malformed token',
};

/**
 * 401. The message the client sees is generic, `details.reason` the fixed category; the real
 * reason travels in `reason` for logs.
 */
export class UnauthenticatedError extends CedargateError {
  readonly code = 'unauthenticated';
  readonly status = 401;
  readonly reason: string;
  readonly challenge: BearerChallenge;
  readonly category: CredentialProblem;
  constructor(
    reason: string,
    options: ErrorOptions & { challenge?: BearerChallenge; category?: CredentialProblem } = {},
  ) {
    const challenge = options.challenge ?? 'invalid_token';
    const category = options.category ?? DEFAULT_PROBLEM[challenge];
    super('missing or invalid credential', { ...options, details: { reason: category } });
    this.reason = reason;
    this.challenge = challenge;
    this.category = category;
  }
}

/** 403: the credential's tenant is not the header's; `details` names both (canonical ids). */
export class TenantMismatchError extends CedargateError {
  readonly code = 'tenant_mismatch';
  readonly status = 403;
  /** `credentialTenant` null: the credential names no tenant its issuer may use (tenant_map). */
  constructor(
    tenants: { headerTenant: string; credentialTenant: string | null },
    options: ErrorOptions = {},
  ) {
    super("the credential's tenant is not the X-Tenant-ID tenant", {
      ...options,
      details: {
        header_tenant: tenants.headerTenant,
        credential_tenant: tenants.credentialTenant,
        ...options.details,
      },
    });
  }
}

export class ForbiddenError extends CedargateError {
  readonly code = 'forbidden';
  readonly status = 403;
}

export class NotFoundError extends CedargateError {
  readonly code = 'not_found';
  readonly status = 404;
}

/** 405: a known path, another method (RFC 9110 §15.5.6: `Allow` lists the path's methods). */
export class MethodNotAllowedError extends CedargateError {
  readonly code = 'method_not_allowed';
  readonly status = 405;
  readonly allow: readonly string[];
  constructor(allow: readonly string[], options: ErrorOptions = {}) {
    super(`this path answers ${allow.join(', ')} only`, {
      ...options,
      details: { allowed_methods: [...allow] },
    });
    this.allow = allow;
  }
}

/** 408: the headers (or the body) did not arrive in time. */
export class RequestTimeoutError extends CedargateError {
  readonly code = 'request_timeout';
  readonly status = 408;
}

export class ConflictError extends CedargateError {
  readonly code = 'conflict';
  readonly status = 409;
}

export class PreconditionFailedError extends CedargateError {
  readonly code = 'precondition_failed';
  readonly status = 412;
  constructor(message = 'If-Match does not match the current version', options: ErrorOptions = {}) {
    super(message, options);
  }
}

export class PayloadTooLargeError extends CedargateError {
  readonly code = 'payload_too_large';
  readonly status = 413;
}

/** 431: request headers over the server's limit (security.md line 5). */
export class HeaderTooLargeError extends CedargateError {
  readonly code = 'header_too_large';
  readonly status = 431;
}

export class UnsupportedMediaTypeError extends CedargateError {
  readonly code = 'unsupported_media_type';
  readonly status = 415;
  constructor(message = 'the body must be application/json (UTF-8)', options: ErrorOptions = {}) {
    super(message, options);
  }
}

export class InvalidRolesError extends CedargateError {
  readonly code = 'invalid_roles';
  readonly status = 422;
  constructor(invalid: string[], allowed: readonly string[], options: ErrorOptions = {}) {
    super(`unknown role(s): ${invalid.join(', ')}`, {
      ...options,
      details: { invalid, allowed: [...allowed] },
    });
  }
}

export class InternalError extends CedargateError {
  readonly code = 'internal';
  readonly status = 500;
  constructor(
    message = 'internal error; the request was not forwarded',
    options: ErrorOptions = {},
  ) {
    super(message, options);
  }
}

export class UpstreamUnavailableError extends CedargateError {
  readonly code = 'upstream_unavailable';
  readonly status = 502;
  constructor(message = 'the users backend is unavailable', options: ErrorOptions = {}) {
    super(message, options);
  }
}

export class UnavailableError extends CedargateError {
  readonly code = 'unavailable';
  readonly status = 503;
  /** Sent as `Retry-After` (RFC 9110 §10.2.3) when the condition is known to be brief. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: ErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export class UpstreamTimeoutError extends CedargateError {
  readonly code = 'upstream_timeout';
  readonly status = 504;
  constructor(message = 'the users backend did not answer in time', options: ErrorOptions = {}) {
    super(message, options);
  }
}

/** Anything thrown, as a contract error: unknown values become 500 `internal`, cause kept. */
export function toCedargateError(err: unknown): CedargateError {
  if (err instanceof CedargateError) return err;
  return new InternalError(undefined, { cause: err });
}

/** The protection space a 401 challenges for (RFC 6750 §3). */
const REALM = 'realm="cedargate"';

/** Status, headers and body for any thrown value. */
export function errorResponse(err: unknown): {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
} {
  const e = toCedargateError(err);
  const headers: Record<string, string> = {};
  if (e instanceof UnauthenticatedError) {
    // RFC 6750 §3: no error code (so no description) when the request carried no credential.
    headers['www-authenticate'] =
      e.challenge === 'none'
        ? `Bearer ${REALM}`
        : `Bearer ${REALM}, error="${e.challenge}", error_description="${e.category}"`;
  }
  if (e instanceof MethodNotAllowedError) headers['allow'] = e.allow.join(', ');
  if (e instanceof UnavailableError && e.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(e.retryAfterSeconds);
  }
  return { status: e.status, headers, body: e.toBody() };
}

/**
 * Answers a request with the contract's error body. Works for node:http and express responses
 * alike (express's response is a ServerResponse). If the head was already sent, the only honest
 * thing left is to cut the connection.
 */
export function sendError(
  res: ServerResponse,
  err: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  const { status, headers, body } = errorResponse(err);
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...extraHeaders,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(payload);
}
