/** Reads a request body with a hard limit, before anything is decided or forwarded. */
import type { IncomingMessage } from 'node:http';
import { InvalidInputError, PayloadTooLargeError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

/**
 * The whole body, or 413 as soon as it is known to exceed `limit` (from Content-Length before
 * reading, or while streaming). `limit` 0 means the route takes no body: any body is 400.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (limit === 0) {
    if (chunked || (declared !== undefined && declared !== '0')) {
      throw new InvalidInputError('this route takes no request body');
    }
    return EMPTY;
  }
  if (declared !== undefined && Number(declared) > limit) {
    throw new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`, {
      details: { limit },
    });
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(
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
    const onError = (err: Error) => {
      cleanup();
      reject(new InvalidInputError('the request body could not be read', { cause: err }));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
