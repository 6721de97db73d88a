/**
 * The one HTTP hop the tests put between the sidecar and the backend. It keeps every request
 * that reaches the backend (method, path, headers, body), so tests can show what was — and was
 * not — forwarded; it can misbehave on forwarded requests (hang, reset: the sidecar's 502/504)
 * or hold them for `delayMs` (a slow backend, so there are requests in flight to drain); and it
 * counts connections by which side closed them. Requests the sidecar forwards carry
 * `x-cedargate-subject`; its own user lookups do not.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type HopMode = 'pass' | 'hang' | 'reset';

export interface Hop {
  url: string;
  /** Where requests go; settable after the hop starts (the backend may start later). */
  target: string;
  /** Forwarded requests wait this long before going on (0: no wait). */
  delayMs: number;
  /** Every request that reached the hop. */
  all: RecordedRequest[];
  /** Requests the sidecar forwarded on behalf of a client (not its own lookups). */
  forwarded(): RecordedRequest[];
  clear(): void;
  setMode(mode: HopMode): void;
  /** Forwarded requests that arrived and have not been answered yet. */
  inFlight(): number;
  /** Forwarded requests seen so far. */
  seen(): number;
  /** Connections to the hop: open now, and closed by which side first. */
  connections(): { open: number; closedByClient: number; closedByHop: number };
  close(): Promise<void>;
}

export interface HopOptions {
  /** Where requests go, read on every request (default: set `hop.target` later). */
  target?: () => string;
  /** The hop's own keep-alive timeout (it stands for the backend's). Default 5 s. */
  keepAliveTimeoutMs?: number;
}

const isForwarded = (headers: IncomingHttpHeaders): boolean =>
  headers['x-cedargate-subject'] !== undefined;

export async function startHop(options: HopOptions = {}): Promise<Hop> {
  let mode: HopMode = 'pass';
  let inFlight = 0;
  let seen = 0;
  const all: RecordedRequest[] = [];
  const conns = { open: 0, closedByClient: 0, closedByHop: 0 };
  /** Requests held for `delayMs`: cleared by `close`, or a long delay keeps the test process alive. */
  const delays = new Set<NodeJS.Timeout>();
  const hop: Hop = {
    url: '',
    target: '',
    delayMs: 0,
    all,
    forwarded: () => all.filter((r) => isForwarded(r.headers)),
    clear: () => void all.splice(0, all.length),
    setMode: (m) => void (mode = m),
    inFlight: () => inFlight,
    seen: () => seen,
    connections: () => ({ ...conns }),
    close: () => Promise.resolve(),
  };
  const server: Server = createServer(
    { keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000 },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        all.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: body.toString('utf8'),
        });
        const forwarded = isForwarded(req.headers);
        if (forwarded && mode === 'hang') return; // never answer
        if (forwarded && mode === 'reset') {
          req.socket.destroy();
          return;
        }
        if (forwarded) {
          inFlight++;
          seen++;
        }
        const done = () => {
          if (forwarded) inFlight--;
        };
        const go = () => {
          const t = new URL(options.target?.() ?? hop.target);
          const up = request(
            {
              host: t.hostname,
              port: t.port,
              method: req.method,
              path: req.url,
              headers: req.headers,
            },
            (upRes) => {
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              upRes.pipe(res);
              upRes.on('end', done);
            },
          );
          up.on('error', () => {
            done();
            res.destroy();
          });
          up.end(body);
        };
        if (forwarded && hop.delayMs > 0) {
          const timer = setTimeout(() => {
            delays.delete(timer);
            go();
          }, hop.delayMs);
          delays.add(timer);
        } else go();
      });
    },
  );
  server.on('connection', (socket) => {
    conns.open++;
    // 'end' is the peer's FIN: the client let go first. A close without it is the hop's doing.
    let peerEnded = false;
    socket.on('end', () => (peerEnded = true));
    socket.on('close', () => {
      conns.open--;
      if (peerEnded) conns.closedByClient++;
      else conns.closedByHop++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hop.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hop.close = () =>
    new Promise<void>((r) => {
      for (const timer of delays) clearTimeout(timer);
      delays.clear();
      server.closeAllConnections();
      server.close(() => r());
    });
  return hop;
}
