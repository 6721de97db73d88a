/**
 * The HTTP plumbing both listening servers share, the sidecar's and the backend's: the limits
 * from the config, binding with the failure told in terms of the configuration, the bound port,
 * graceful close, and the error answers written straight to a socket that node's HTTP layer has
 * let go of (framing its parser refuses, headers over the limit or too slow to arrive, a CONNECT).
 */
import {
  STATUS_CODES,
  createServer,
  type RequestListener,
  type Server,
  type ServerOptions,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { ConfigError, type Config } from '../config.js';
import {
  HeaderTooLargeError,
  InvalidInputError,
  RequestTimeoutError,
  errorResponse,
  type CedargateError,
} from '../errors.js';

/** The config values that bound what one connection may hold. */
export type ServerLimits = Pick<
  Config,
  'maxHeaderBytes' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'
>;

export function serverLimitsOf(config: ServerLimits): ServerOptions {
  return {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // node checks the headers and request timeouts only this often (30 s by default), which
    // would let a slow client hold a connection far past HEADERS_TIMEOUT_MS.
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
  };
}

/**
 * A node:http server with cedargate's limits whose malformed or slow framing is answered in the
 * contract's format ({@link answerClientError}) and never reaches `handler`.
 */
export function createHttpServer(
  limits: ServerLimits,
  handler: RequestListener,
  options: Pick<ServerOptions, 'requireHostHeader'> = {},
): Server {
  const server = createServer({ ...serverLimitsOf(limits), ...options }, handler);
  server.on('clientError', answerClientError);
  return server;
}

/** Where to listen, and the variables that chose it (named when binding fails). */
export interface ListenAddress {
  port: number;
  host: string;
  portVariable: string;
  hostVariable: string;
}

/**
 * Listens on `address`. A port already taken, or an address this host does not have, is a
 * misconfiguration: it rejects with a ConfigError naming the variable, which the CLI prints as
 * one line (no stack trace) before exiting non-zero.
 */
export function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenErrorOf(err, address));
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenErrorOf(err: NodeJS.ErrnoException, address: ListenAddress): Error {
  const { port, host, portVariable, hostVariable } = address;
  const other = String(port >= 65535 ? port - 1 : port + 1);
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(portVariable, `port ${port} is already in use on ${host}`, other);
    case 'EACCES':
      return new ConfigError(portVariable, `port ${port} may not be bound by this user`, other);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(hostVariable, `"${host}" is not an address of this host`, '127.0.0.1');
    default:
      return err;
  }
}

export function boundPort(server: Server): number {
  const addr = server.address();
  if (addr === null || typeof addr === 'string')
    throw new Error('server is not listening on a TCP port');
  return addr.port;
}

/**
 * Stops accepting, lets in-flight requests finish (a request still arriving on an open
 * keep-alive connection is answered, then that connection closes), closes idle keep-alive
 * connections, and cuts whatever is still open when the grace period ends.
 */
export function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.prependListener('request', (_req, res) => {
      res.shouldKeepAlive = false;
    });
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    // A keep-alive connection whose in-flight request finishes goes idle, and would hold the
    // close open until its keep-alive timeout: sweep those as they appear, not just once.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

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
