/**
 * The sidecar's data-port server: node:http with the pipeline as its only handler (express
 * stays off the proxied hot path: see docs/benchmarks.md), and the answers node would otherwise
 * give itself, outside the contract's format. Assembly is src/sidecar/assemble.ts.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHttpServer, writeRawError, type ServerLimits } from '../common/http-server.js';
import { InvalidInputError, NotFoundError, sendError } from '../errors.js';

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
