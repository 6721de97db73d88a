/**
 * The sidecar's data-port server: node:http with the pipeline as its only handler (express
 * stays off the proxied hot path: see docs/benchmarks.md), and the answers node would otherwise
 * give itself, outside the contract's format. Assembly is src/sidecar/assemble.ts.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHttpServer, writeRawError, type ServerLimits } from '../common/http-server.js';
import { InvalidInputError, NotFoundError, sendError } from '../errors.js';
import type { RevocationCheck } from './authn/verifier.js';

/**
 * What several replicas share (implemented on Redis): cross-replica invalidation and token
 * revocation. A single replica runs without one.
 */
export interface SidecarCluster {
  /** Tells every replica that a user changed; resolves once the channel has it (never rejects). */
  publishUserChanged(tenantId: string, userId: string): Promise<void> | void;
  /** Starts listening; the handlers run for changes made through any replica. */
  start(handlers: {
    onUserChanged(tenantId: string, userId: string): void;
    /** The channel is down: nothing guarantees invalidations; keep caches short. */
    onDegraded(): void;
    /** The channel is back: caches may be trusted again. */
    onRecovered(): void;
  }): Promise<void>;
  revocation: RevocationCheck;
  /** For /readyz and /status. */
  health(): { ok: boolean; detail: string };
  close(): Promise<void>;
}

/** The data port's server: every request goes to `pipeline`. */
export function createSidecarServer(limits: ServerLimits, pipeline: RequestListener): Server {
  // node would answer a missing Host with a bare 400; the pipeline refuses it in the contract's format.
  const server = createHttpServer(limits, pipeline, { requireHostHeader: false });
  // Without these listeners node answers `Expect: <anything but 100-continue>` with a bare 417,
  // and drops a CONNECT without a word. Neither is an API route: answer in the contract's format.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.shouldKeepAlive = false; // the body, if any, was not read
    sendError(res, new InvalidInputError('only "Expect: 100-continue" is supported'));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    writeRawError(socket, new NotFoundError('no such route')),
  );
  return server;
}
