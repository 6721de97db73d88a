/**
 * The request id: the client's `X-Request-ID` when it is a plain token, a fresh UUID otherwise.
 * One id names the request in the decision log, in the error body's headers and at the backend;
 * a client-chosen id is kept only when it cannot break a log line or a header.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { REQUEST_ID_HEADER } from '../common/headers.js';

export { REQUEST_ID_HEADER };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id this request goes by, from its `X-Request-ID` or made up here. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
