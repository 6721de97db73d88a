/**
 * Authorization header → compact JWS string, with every check that needs no crypto: one header,
 * the Bearer scheme, a size cap, and the three-part shape. What fails here never reaches jose.
 */
import { UnauthenticatedError } from '../../errors.js';

/** Default cap on the token's size: far above any honest JWT, far below a header-size attack. */
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024;

// RFC 6750 §2.1: `Bearer` 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
const BEARER = /^([A-Za-z][A-Za-z0-9-]{0,31}) +([^\s]+) *$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// Exactly what checkCompactShape accepts (three base64url parts, header and payload not empty),
// in one pass and without splitting: every honest token takes this path.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Returns the bearer token of `authorization` (the raw header value, or values when the request
 * repeated it), or throws UnauthenticatedError with the reason.
 */
export function readBearerToken(
  authorization: string | string[] | undefined,
  maxTokenBytes: number = DEFAULT_MAX_TOKEN_BYTES,
): string {
  const value = singleHeader(authorization);
  // Checked on the whole header before any regex or split runs over it.
  if (Buffer.byteLength(value) > maxTokenBytes + 'Bearer '.length) {
    throw new UnauthenticatedError(`Authorization header over ${maxTokenBytes} bytes`);
  }
  const match = BEARER.exec(value);
  if (match === null)
    throw new UnauthenticatedError('Authorization header is not "<scheme> <token>"', {
      challenge: 'invalid_request',
    });
  const [, scheme = '', token = ''] = match;
  if (scheme.toLowerCase() !== 'bearer') {
    // No bearer credential at all, as far as RFC 6750 is concerned: a challenge without error.
    throw new UnauthenticatedError(`Authorization scheme "${scheme}" is not Bearer`, {
      challenge: 'none',
    });
  }
  if (Buffer.byteLength(token) > maxTokenBytes) {
    throw new UnauthenticatedError(`token over ${maxTokenBytes} bytes`);
  }
  checkCompactShape(token);
  return token;
}

function singleHeader(authorization: string | string[] | undefined): string {
  if (authorization === undefined)
    throw new UnauthenticatedError('no Authorization header', { challenge: 'none' });
  if (Array.isArray(authorization)) {
    // Two credentials in one request: which one would the backend believe? Neither.
    if (authorization.length !== 1) {
      throw new UnauthenticatedError(`${authorization.length} Authorization headers`, {
        challenge: 'invalid_request',
      });
    }
    return singleHeader(authorization[0]);
  }
  if (authorization.trim() === '')
    throw new UnauthenticatedError('empty Authorization header', { challenge: 'none' });
  return authorization;
}

function checkCompactShape(token: string): void {
  if (COMPACT_JWS.test(token)) return;
  const parts = token.split('.');
  if (parts.length === 5)
    throw new UnauthenticatedError('token is a JWE; only signed JWTs (JWS) are accepted');
  if (parts.length !== 3)
    throw new UnauthenticatedError(`token has ${parts.length} parts, a JWS has 3`);
  if (!parts.every((p) => BASE64URL.test(p))) {
    throw new UnauthenticatedError('token is not base64url');
  }
  if (parts[0] === '' || parts[1] === '')
    throw new UnauthenticatedError('token has an empty header or payload');
}
