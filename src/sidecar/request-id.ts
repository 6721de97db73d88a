/**
 * The request id: the client's `X-Request-ID` when it is a plain token, a fresh UUID otherwise.
 * One id names the request in the decision log, in the error body's headers and at the backend;
 * a client-chosen id is kept only when it cannot break a log line or a header. A client may send
 * one id on many requests, so each request also gets the server's own unique id (`request_uid`
 * in the decision log, what `policy replay` keys on).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { REQUEST_ID_HEADER } from '../common/headers.js';

export { REQUEST_ID_HEADER };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id (the client's or made up here) and the server's own id, unique per request. */
export function requestIdsOf(req: IncomingMessage): { requestId: string; requestUid: string } {
  const requestUid = randomUUID();
  const incoming = req.headers[REQUEST_ID_HEADER];
  const requestId =
    typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : requestUid;
  return { requestId, requestUid };
}
