/**
 * A recording hop between the sidecar and the backend: every request that reaches the backend
 * is kept (method, path, headers, body), so tests can show what was — and was not — forwarded.
 * Requests the sidecar forwards carry `x-cedargate-subject`; its own user lookups do not.
 * It can also misbehave on forwarded requests (hang, reset) to test the sidecar's 502/504.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type RecorderMode = 'pass' | 'hang' | 'reset';

export interface Recorder {
  url: string;
  all: RecordedRequest[];
  /** Requests the sidecar forwarded on behalf of a client (not its own lookups). */
  forwarded(): RecordedRequest[];
  clear(): void;
  setMode(mode: RecorderMode): void;
  close(): Promise<void>;
}

export async function startRecorder(backendUrl: () => string): Promise<Recorder> {
  const all: RecordedRequest[] = [];
  let mode: RecorderMode = 'pass';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: body.toString('utf8'),
      };
      all.push(rec);
      const isForward = req.headers['x-cedargate-subject'] !== undefined;
      if (isForward && mode === 'hang') return; // never answer
      if (isForward && mode === 'reset') {
        req.socket.destroy();
        return;
      }
      const target = new URL(backendUrl());
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    all,
    forwarded: () => all.filter((r) => r.headers['x-cedargate-subject'] !== undefined),
    clear: () => void all.splice(0, all.length),
    setMode: (m) => void (mode = m),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
