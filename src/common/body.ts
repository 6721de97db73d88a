/**
 * The one request-body reader, the sidecar's and the backend's: a hard per-body limit, its own
 * timeout, and an overall budget for the bytes all bodies in flight may hold. The sidecar's
 * decision waits for the whole body (as Envoy's ext_authz `with_request_body` does), so these
 * bounds are what keeps held bodies from holding the process. Both sides refuse the same
 * Content-Encodings and charsets, so they never read one body two ways.
 */
import type { IncomingMessage } from 'node:http';
import {
  InvalidInputError,
  PayloadTooLargeError,
  RequestTimeoutError,
  UnavailableError,
  UnsupportedMediaTypeError,
} from '../errors.js';
import { assertJsonMediaType, parseJsonObject } from './json.js';

const EMPTY = Buffer.alloc(0);
const NOTHING_HELD = (): void => undefined;

/** The bytes every body in flight may hold together (BODY_BUDGET_BYTES). */
export interface BodyBudget {
  /** Reserves `bytes`; undefined when they do not fit. The returned release is idempotent. */
  reserve(bytes: number): (() => void) | undefined;
  stats(): { bodies: number; bytes: number; budget: number };
}

export function createBodyBudget(budgetBytes: number): BodyBudget {
  let bytes = 0;
  let bodies = 0;
  return {
    reserve(n) {
      if (bytes + n > budgetBytes) return undefined;
      bytes += n;
      bodies++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        bytes -= n;
        bodies--;
      };
    },
    stats: () => ({ bodies, bytes, budget: budgetBytes }),
  };
}

export interface ReadBodyOptions {
  /** Largest body accepted; 0 means the route takes no body (any body is 400). */
  limit: number;
  /** The whole body must have arrived this long after reading starts (BODY_TIMEOUT_MS), or 408. */
  timeoutMs?: number;
  /** Shared by every body in flight; none when the caller bounds them otherwise. */
  budget?: BodyBudget;
}

/** A body read whole, and the release of its share of the budget (call once it is let go). */
export interface ReadBody {
  body: Buffer;
  release: () => void;
}

/**
 * The whole body, or: 413 as soon as it is known to exceed the limit (from Content-Length
 * before reading, or while streaming); 415 for a Content-Encoding (the sidecar decides on the
 * bytes it reads, and never decodes them); 503 at once when the budget cannot hold it; 408 when
 * it does not arrive in time.
 */
export async function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<ReadBody> {
  const { limit } = options;
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (limit === 0) {
    if (chunked || (declared !== undefined && declared !== '0')) {
      throw new InvalidInputError('this route takes no request body');
    }
    return { body: EMPTY, release: NOTHING_HELD };
  }
  assertIdentityEncoding(req.headers['content-encoding']);
  if (declared !== undefined && Number(declared) > limit) {
    throw new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`, {
      details: { limit },
    });
  }
  // A chunked body may grow to the limit: reserve that much up front, so that a body once
  // accepted is never cut off halfway by the bodies that came after it.
  const reserved = declared === undefined ? limit : Number(declared);
  const release = options.budget === undefined ? NOTHING_HELD : options.budget.reserve(reserved);
  if (release === undefined) {
    throw new UnavailableError('too many request bodies are in flight; try again shortly', {
      retryAfterSeconds: 1,
    });
  }
  try {
    return { body: await collect(req, limit, options.timeoutMs), release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * The body of `req` as a JSON object: the media type (415: JSON, UTF-8 or no charset) is
 * checked before a byte is read, then {@link readBody}'s rules, then `parseJsonObject`'s.
 * For a caller that lets go of the body at once (it holds no budget).
 */
export async function readJsonBody(
  req: IncomingMessage,
  options: ReadBodyOptions,
): Promise<Record<string, unknown>> {
  const contentType = req.headers['content-type'];
  assertJsonMediaType(contentType);
  const { body, release } = await readBody(req, options);
  release();
  return parseJsonObject(body, contentType);
}

function collect(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number | undefined,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past a failure the rest of the body is read and dropped, never destroyed: a reset would
    // reach the client before the error answer. The answer closes the connection.
    const fail = (err: Error) => {
      cleanup();
      req.resume();
      reject(err);
    };
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => fail(new RequestTimeoutError(`the body did not arrive within ${timeoutMs} ms`)),
            timeoutMs,
          );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        fail(
          new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`, {
            details: { limit },
          }),
        );
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) =>
      fail(new InvalidInputError('the request body could not be read', { cause: err }));
    const onClose = () => fail(new InvalidInputError('the request ended before its body'));
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * 415 for any Content-Encoding but `identity`: the bytes decided on must be the bytes the
 * backend would have read, and the sidecar forwards the JSON it re-serialized, unencoded.
 */
function assertIdentityEncoding(encoding: string | undefined): void {
  if (encoding === undefined) return;
  const codings = encoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');
  if (codings.every((c) => c === 'identity')) return;
  throw new UnsupportedMediaTypeError('request bodies with a Content-Encoding are not accepted', {
    details: { header: 'content-encoding' },
  });
}
