/**
 * Reads a JSON request body with a byte limit and hands the raw bytes to `parseJsonObject`,
 * the same judge the sidecar uses, so both sides read one body one way.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';
import { assertJsonMediaType, parseJsonObject } from '../common/json.js';

function tooLarge(limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`the body is larger than ${limit} bytes`, { details: { limit } });
}

/**
 * The body of `req` as a JSON object. Checks the media type (415) and a declared
 * Content-Length (413) before reading a byte, then stops reading as soon as the limit is
 * passed (413). Compressed bodies are refused (415): inflating would let a small body grow
 * past the limit.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  const contentType = req.headers['content-type'];
  assertJsonMediaType(contentType);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new UnsupportedMediaTypeError('compressed bodies are not accepted');
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw tooLarge(limitBytes);

  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    // Past the limit we stop keeping data but do not destroy the request: that would reset
    // the socket before the 413 is written. The rest of the body is discarded as it flows.
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    }
    function onError(err: Error): void {
      cleanup();
      reject(new InvalidInputError('the body could not be read', { cause: err }));
    }
    function onClose(): void {
      cleanup();
      reject(new InvalidInputError('the request ended before its body'));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
  return parseJsonObject(body, contentType);
}
