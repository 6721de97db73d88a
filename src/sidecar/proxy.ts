/**
 * Forwarding (http-proxy-middleware over a keep-alive agent): exactly what was authorized goes
 * to the backend — the canonical path that was decided on, the exact JSON bytes that were
 * validated and decided, the verified tenant and subject, the sidecar's trust header, and an
 * allowlist of client headers. Everything else the client sent is dropped here.
 */
import type {
  Agent,
  ClientRequest,
  IncomingHttpHeaders,
  IncomingMessage,
  ServerResponse,
} from 'node:http';
import type { Stream } from 'node:stream';
import { createProxyMiddleware, type Plugin } from 'http-proxy-middleware';
import { UpstreamTimeoutError, UpstreamUnavailableError, type CedargateError } from '../errors.js';
import {
  REQUEST_ID_HEADER,
  SUBJECT_HEADER,
  TENANT_HEADER,
  TRUST_HEADER,
} from '../common/headers.js';

/** Client headers that may reach the backend; identity and hop-by-hop headers never do. */
const FORWARDED_CLIENT_HEADERS = new Set([
  'accept',
  'accept-language',
  'user-agent',
  'content-type',
]);

/** Backend response headers that are about the connection, not the response. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'te',
]);

/** What the pipeline decided to send. */
export interface ForwardPlan {
  method: string;
  path: string;
  tenantId: string;
  subject: string;
  requestId: string;
  body: Buffer | undefined;
  /** ETag of the version the decision saw (PUT, DELETE). */
  ifMatch: string | undefined;
  /** A backend 412 comes back as `retry` instead of being answered (decide once more). */
  retryOn412: boolean;
  /** Extra response headers (the shadow-mode decision marker). */
  responseHeaders: Record<string, string>;
  /**
   * Runs once the backend's status is known and before the client sees anything — so that,
   * after a write, every replica has dropped the old user before the client can ask again.
   */
  beforeRespond?: (
    status: number,
    response: { etag: string | undefined; body: Buffer | undefined },
  ) => Promise<void> | void;
  /** Read the (small JSON) response body before answering, and hand it to `beforeRespond`. */
  bufferResponse?: boolean;
}

export type ForwardOutcome =
  | { kind: 'answered'; status: number }
  | { kind: 'retry' }
  | { kind: 'failed'; error: CedargateError };

export interface Forwarder {
  forward(req: IncomingMessage, res: ServerResponse, plan: ForwardPlan): Promise<ForwardOutcome>;
}

interface InFlight {
  plan: ForwardPlan;
  settle: (o: ForwardOutcome) => void;
  /** Whether the forward has its outcome already (a failure may come before the answer). */
  settled: () => boolean;
  timedOut: boolean;
}

interface ForwarderOptions {
  target: string;
  agent: Agent;
  trustSecret: string;
  timeoutMs: number;
}

/**
 * What http-proxy pipes into the outgoing request instead of the client's request (its `buffer`
 * option, for "middleware that consumes the request stream before proxying"): nothing. The
 * pipeline has read the body already, and {@link writeRequest} ends the outgoing request with
 * the decided bytes. Piping the client's request would end it on the next tick — before its
 * head is set when the forward waits in the agent for a socket (ERR_HTTP_HEADERS_SENT, thrown
 * from an event) — and cost every request a pipe's listeners on both streams.
 */
const NOTHING_TO_PIPE = { pipe: <T>(destination: T): T => destination } as unknown as Stream;

/** The requests being forwarded, by the client request http-proxy hands back to its hooks. */
type InFlightRequests = WeakMap<IncomingMessage, InFlight>;

export function createForwarder(options: ForwarderOptions): Forwarder {
  const inflight: InFlightRequests = new WeakMap();
  const middleware = createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: targetPartsOf(options.target),
    // The path goes out exactly as the pipeline set it (the canonical path it decided on):
    // without this, http-proxy re-parses every req.url with the legacy url.parse.
    toProxy: true,
    agent: options.agent,
    changeOrigin: true,
    xfwd: false,
    selfHandleResponse: true,
    buffer: NOTHING_TO_PIPE,
    ejectPlugins: true,
    plugins: [hooksOf(inflight, options)],
  });
  return {
    forward(req, res, plan) {
      return new Promise<ForwardOutcome>((resolve) => {
        const state = track(inflight, req, plan, resolve);
        req.url = plan.path;
        void middleware(req, res, (err?: unknown) =>
          state.settle({
            kind: 'failed',
            error: new UpstreamUnavailableError(undefined, { cause: err }),
          }),
        );
      });
    },
  };
}

/** http-proxy's events, each handed to the forward of the request it is about. */
function hooksOf(inflight: InFlightRequests, options: ForwarderOptions): Plugin {
  return (proxyServer) => {
    // Events of requests that are not (or no longer) in flight are left to http-proxy.
    const ours = (req: IncomingMessage, hook: (state: InFlight) => void) => {
      const state = inflight.get(req);
      if (state !== undefined) hook(state);
    };
    proxyServer.on('proxyReq', (proxyReq, req) => {
      const state = inflight.get(req);
      if (state !== undefined) writeRequest(state, proxyReq, options);
      // Settled before its socket came (the client's request failed): no one waits for its
      // answer, and nothing else would end it (NOTHING_TO_PIPE).
      else proxyReq.destroy();
    });
    proxyServer.on('proxyRes', (proxyRes, req, res) => ours(req, (s) => answer(s, proxyRes, res)));
    proxyServer.on('error', (err, req) => ours(req, (s) => fail(s, err)));
    // A reset while the client is already gone is reported apart from 'error' (http-proxy's
    // web-incoming pass); unheard, the forward would never settle and its write lane would stall.
    proxyServer.on('econnreset', (err, req) => ours(req, (s) => fail(s, err)));
  };
}

/** A forward in flight, known to the hooks until its outcome (the first one) is settled. */
function track(
  inflight: InFlightRequests,
  req: IncomingMessage,
  plan: ForwardPlan,
  resolve: (o: ForwardOutcome) => void,
): InFlight {
  let settled = false;
  // While the forward runs, http-proxy sees only the client headers that may go out: it copies
  // req.headers into the outgoing request, which checks each one, and writeRequest then removed
  // the rest (a GET's Authorization alone is a ~600-byte token checked character by character).
  // The pipeline gets its own headers back before it hears the outcome: a write decided again
  // after a 412 authenticates the client again from them.
  const clientHeaders = req.headers;
  req.headers = forwardedHeadersOf(clientHeaders);
  const state: InFlight = {
    plan,
    timedOut: false,
    settled: () => settled,
    settle: (o) => {
      if (settled) return;
      settled = true;
      inflight.delete(req);
      req.headers = clientHeaders;
      resolve(o);
    },
  };
  inflight.set(req, state);
  return state;
}

/**
 * The allowlisted client headers and Host (http-proxy rewrites it to the backend's). Never
 * `Expect`: http-proxy skips its 'proxyReq' hook (where the identity and the decided body are set)
 * when the outgoing request carries one, and the client's headers would go out as sent. node
 * already answered the client's 100-continue; the expectation is hop-by-hop and goes no further.
 */
function forwardedHeadersOf(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (name === 'host' || FORWARDED_CLIENT_HEADERS.has(name)) kept[name] = headers[name];
  }
  return kept;
}

/**
 * The outgoing request: allowlisted client headers, the verified identity, the decided body;
 * then it is ended (nothing else ends it: see NOTHING_TO_PIPE). http-proxy calls this once the
 * request has its socket, so the head is still open even when it waited for one.
 */
function writeRequest(state: InFlight, proxyReq: ClientRequest, options: ForwarderOptions): void {
  const { plan } = state;
  for (const name of proxyReq.getHeaderNames()) {
    if (!FORWARDED_CLIENT_HEADERS.has(name) && name !== 'host') proxyReq.removeHeader(name);
  }
  proxyReq.setHeader(TENANT_HEADER, plan.tenantId);
  proxyReq.setHeader(SUBJECT_HEADER, plan.subject);
  proxyReq.setHeader(REQUEST_ID_HEADER, plan.requestId);
  proxyReq.setHeader(TRUST_HEADER, options.trustSecret);
  if (plan.ifMatch !== undefined) proxyReq.setHeader('if-match', plan.ifMatch);
  if (plan.body !== undefined) {
    proxyReq.setHeader('content-type', 'application/json');
    proxyReq.setHeader('content-length', plan.body.length);
  } else {
    proxyReq.removeHeader('content-type');
    proxyReq.setHeader('content-length', 0);
  }
  proxyReq.setTimeout(options.timeoutMs, () => {
    state.timedOut = true;
    proxyReq.destroy(new Error('upstream timeout'));
  });
  proxyReq.end(plan.body);
}

/** The backend's answer to the client, or `retry` for a 412 the pipeline decides again. */
function answer(state: InFlight, proxyRes: IncomingMessage, res: ServerResponse): void {
  const status = proxyRes.statusCode ?? 502;
  if (status === 412 && state.plan.retryOn412) {
    proxyRes.resume();
    state.settle({ kind: 'retry' });
    return;
  }
  // The backend gone halfway through its answer: before anything went to the client the forward
  // failed (502, and a write is then forgotten, for it may have been applied); after, the client's
  // connection is cut, which settles the forward through its 'close'.
  proxyRes.on('error', (err) => {
    if (res.headersSent) res.destroy();
    else fail(state, err);
  });
  const reply: Reply = {
    state,
    proxyRes,
    res,
    status,
    headers: responseHeadersOf(proxyRes, state),
  };
  const { beforeRespond } = state.plan;
  if (beforeRespond === undefined) streamReply(reply);
  else if (state.plan.bufferResponse === true) bufferReply(reply, beforeRespond);
  else {
    const etag = etagOf(proxyRes);
    after(beforeRespond(status, { etag, body: undefined }), () => streamReply(reply));
  }
}

/** One backend answer on its way to the client. */
interface Reply {
  state: InFlight;
  proxyRes: IncomingMessage;
  res: ServerResponse;
  status: number;
  headers: Record<string, string | string[]>;
}

/** The backend's headers but the hop-by-hop ones, the plan's own, and the request id. */
function responseHeadersOf(
  proxyRes: IncomingMessage,
  state: InFlight,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const received = proxyRes.headers;
  // for-in over node's header object: no entries array and no temporary objects per response.
  for (const name in received) {
    const value = received[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const extra = state.plan.responseHeaders;
  for (const name in extra) headers[name] = extra[name] as string;
  headers[REQUEST_ID_HEADER] = state.plan.requestId;
  return headers;
}

/**
 * Answers of at most this many declared bytes (a user, an error) are read whole and sent in one
 * write; larger or undeclared ones (a page of users) are piped as they arrive, so that a slow
 * client never makes the sidecar hold a whole page.
 */
const WHOLE_ANSWER_MAX_BYTES = 64 * 1024;

/**
 * The answer on to the client: a small one read whole and sent with its head in one `end`, which
 * spares the pipe's listeners and the separate write and end of every GET; else piped through.
 */
function streamReply(reply: Reply): void {
  const { proxyRes, res, status } = reply;
  if (Number(proxyRes.headers['content-length']) <= WHOLE_ANSWER_MAX_BYTES) {
    readWhole(proxyRes, (body) => respond(reply, () => sendWhole(res, status, reply, body)));
    return;
  }
  respond(reply, () => {
    res.writeHead(status, reply.headers);
    proxyRes.pipe(res);
  });
}

/** The answer read whole, handed to `beforeRespond`, then sent. */
function bufferReply(reply: Reply, beforeRespond: NonNullable<ForwardPlan['beforeRespond']>): void {
  const { proxyRes, res, status } = reply;
  readWhole(proxyRes, (body) =>
    after(beforeRespond(status, { etag: etagOf(proxyRes), body }), () =>
      respond(reply, () => sendWhole(res, status, reply, body)),
    ),
  );
}

/** The body of `proxyRes` once it has all arrived (a failure halfway is the 'error' hook's). */
function readWhole(proxyRes: IncomingMessage, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  proxyRes.on('data', (c: Buffer) => chunks.push(c));
  proxyRes.on('end', () =>
    then(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
  );
}

function sendWhole(res: ServerResponse, status: number, reply: Reply, body: Buffer): void {
  res.writeHead(status, reply.headers);
  res.end(body);
}

/**
 * Sends the answer and settles once it is written, or at once when the client is already gone:
 * its 'close' has then passed, and a write lane waiting on this forward must not wait for good.
 */
function respond({ state, proxyRes, res, status }: Reply, send: () => void): void {
  const answered: ForwardOutcome = { kind: 'answered', status };
  // Failed while beforeRespond ran: the pipeline has answered the client already.
  if (state.settled()) return;
  if (res.destroyed) {
    proxyRes.resume();
    state.settle(answered);
    return;
  }
  res.on('finish', () => state.settle(answered));
  res.on('close', () => state.settle(answered));
  send();
}

/** What the backend acknowledged is told to beforeRespond even when no client waits for it. */
function after(pending: Promise<void> | void, then: () => void): void {
  if (pending === undefined) then();
  else void pending.then(then, then);
}

function etagOf(proxyRes: IncomingMessage): string | undefined {
  return typeof proxyRes.headers.etag === 'string' ? proxyRes.headers.etag : undefined;
}

function fail(state: InFlight, err: Error): void {
  state.settle({
    kind: 'failed',
    error: state.timedOut
      ? new UpstreamTimeoutError(undefined, { cause: err })
      : new UpstreamUnavailableError(undefined, { cause: err }),
  });
}

/**
 * The target as parts, parsed once: http-proxy runs url.parse on a string target for every
 * request (1-2% of the sidecar's CPU under a GET load, see docs/benchmarks.md).
 */
function targetPartsOf(target: string): {
  protocol: string;
  host: string;
  hostname: string;
  port: string;
  path: string;
} {
  const url = new URL(target);
  // `path` as url.parse would give it: http-proxy prepends it to every forwarded path.
  return {
    protocol: url.protocol,
    host: url.host,
    hostname: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
  };
}
