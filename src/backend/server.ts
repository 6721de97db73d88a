/**
 * The backend process: store, trust secret, roles and the express app behind one HTTP server,
 * with a graceful close (stop accepting, let in-flight requests finish, drop idle keep-alive
 * sockets, then close the store).
 */
import { serverLimitsOf } from '../common/server-limits.js';
import { createServer, STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { HeaderTooLargeError, InvalidInputError, errorResponse } from '../errors.js';
import type { Logger } from '../common/logger.js';
import { resolveTrustSecret } from '../common/trust.js';
import { watchAllowedRoles } from './allowed-roles.js';
import { createBackendApp } from './app.js';
import { openStore } from './store/index.js';
import type { UserStore } from './store/store.js';

export interface RunningBackend {
  port: number;
  store: UserStore;
  /** Idempotent; resolves when the server and the store are closed. */
  close(): Promise<void>;
}

/** Starts the users backend on `config.backendHost:config.backendPort` (0 = any free port). */
export async function startBackend(config: Config, logger: Logger): Promise<RunningBackend> {
  const roles = watchAllowedRoles(config.policyDir, { pollMs: config.policyPollMs, logger });
  let store: UserStore;
  try {
    store = await openStore(config);
  } catch (err) {
    roles.close();
    throw err;
  }
  const app = createBackendApp({
    store,
    allowedRoles: roles.current,
    trustSecret: resolveTrustSecret(config),
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    pageMaxBytes: config.pageMaxBytes,
  });
  const server = createServer(serverLimitsOf(config), app);
  server.on('clientError', answerClientError);
  try {
    await listen(server, config.backendPort, config.backendHost);
  } catch (err) {
    roles.close();
    await store.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // Requests arriving on open keep-alive sockets are still answered, then the socket
      // closes; sockets that go idle after their in-flight request are swept.
      server.prependListener('request', (_req, res: ServerResponse) =>
        res.setHeader('connection', 'close'),
      );
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      // In-flight requests get the grace period; then their sockets are cut.
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      sweep.unref();
      force.unref();
      await stopped;
      clearInterval(sweep);
      clearTimeout(force);
      roles.close();
      await store.close();
    })();
    return closing;
  };
  return { port, store, close };
}

/**
 * Requests node's parser refuses (control bytes in a header, bad framing, headers over the
 * limit) never reach express; answer them with the contract's JSON body too, then close.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // A client too slow to send its request gets no answer; the socket is simply closed.
    socket.destroy();
    return;
  }
  const { status, headers, body } = errorResponse(
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new HeaderTooLargeError('the request headers are too large')
      : new InvalidInputError('malformed HTTP request'),
  );
  const payload = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(payload)}`,
    'cache-control: no-store',
    'connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${payload}`);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
