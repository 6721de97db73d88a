/**
 * Header framing checks. Node silently keeps the first of two `Authorization` headers and joins
 * two `X-Tenant-ID`s with ", "; either way the sidecar and the backend could read different
 * values, so a request that repeats a header the decision depends on is refused (400).
 */
import type { IncomingMessage } from 'node:http';
import { InvalidInputError } from '../errors.js';

const SINGLE = new Set([
  'authorization',
  'x-tenant-id',
  'content-length',
  'content-type',
  'transfer-encoding',
  'if-match',
  'host',
  'x-request-id',
]);

/**
 * 400 when there are two `Authorization` headers: the credential itself is ambiguous. Checked
 * before the credential; every other header is checked after it (`assertSingleHeaders`), so a
 * request with no credential at all is 401 first, as the contract's order says.
 */
export function assertSingleCredential(req: IncomingMessage): void {
  assertAtMostOnce(req, CREDENTIAL);
}

/** Throws 400 when a header that must appear at most once appears twice. */
export function assertSingleHeaders(req: IncomingMessage): void {
  assertAtMostOnce(req, SINGLE);
}

const CREDENTIAL = new Set(['authorization']);

// The watched names met so far in the request being checked. One array for the process: the
// check is synchronous, so no two requests share it at once, and a GET allocates nothing here.
const met: string[] = [];

function assertAtMostOnce(req: IncomingMessage, names: ReadonlySet<string>): void {
  const raw = req.rawHeaders;
  met.length = 0;
  // One pass, each name lowercased once (the old scan lowercased every later name again).
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (!names.has(name)) continue;
    if (met.includes(name)) {
      met.length = 0;
      throw new InvalidInputError(`the ${name} header must appear at most once`, {
        details: { header: name },
      });
    }
    met.push(name);
  }
  met.length = 0;
}

/**
 * 400 for an HTTP/1.1 request without `Host` (RFC 9112 §3.2). node would answer it itself with
 * a bare 400 and no body; the sidecar turns that off (`requireHostHeader: false`) so that the
 * refusal comes here, in the contract's format.
 */
export function assertHostHeader(req: IncomingMessage): void {
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    throw new InvalidInputError('the Host header is required', { details: { header: 'host' } });
  }
}
