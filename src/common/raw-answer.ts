/**
 * Error answers written straight to a socket that node's HTTP layer has let go of: framing its
 * parser refuses, headers over the limit or too slow to arrive (`clientError`), a CONNECT. Both
 * listening servers, the sidecar and the backend, answer through here: the contract's JSON body,
 * then the socket is released.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  HeaderTooLargeError,
  InvalidInputError,
  RequestTimeoutError,
  errorResponse,
  type CedargateError,
} from '../errors.js';

/**
 * How long a socket stays after its error answer before it is destroyed. Ending our side alone
 * is not enough: node's HTTP sockets are half-open, so a client that keeps trickling bytes and
 * never closes (a slowloris) would hold the descriptor for as long as it likes. Destroying at
 * once is too soon: closing with the client's bytes still unread makes the kernel send a reset,
 * which can discard the answer before the client reads it. A moment's linger lets it arrive.
 */
export const RELEASE_AFTER_MS = 500;

/** `clientError` of a node:http server: answers what can still be answered, then releases. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  writeRawError(socket, clientErrorOf(err));
}

function clientErrorOf(err: NodeJS.ErrnoException): CedargateError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HeaderTooLargeError('the request headers are over the limit', { cause: err });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestTimeoutError('the request took too long to arrive', { cause: err });
    default:
      return new InvalidInputError('malformed HTTP request', { cause: err });
  }
}

/** Writes `e` as a whole HTTP/1.1 response with `connection: close`, then releases the socket. */
export function writeRawError(socket: Duplex, e: CedargateError): void {
  const { status, headers, body } = errorResponse(e);
  const payload = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(payload)}`,
    'cache-control: no-store',
    'connection: close',
  ];
  const release = setTimeout(() => socket.destroy(), RELEASE_AFTER_MS);
  release.unref();
  socket.once('close', () => clearTimeout(release));
  // Whatever the client still sends is read and dropped, never left to pile up unread.
  socket.resume();
  socket.end(`${lines.join('\r\n')}\r\n\r\n${payload}`);
}
