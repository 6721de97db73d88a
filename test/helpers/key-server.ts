/** A JWKS endpoint a test controls: what it serves, whether it answers, and what it was asked. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KeyServer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  serve(jwks: unknown): void;
  /**
   * ok: answers; hang: accepts and never answers; down: resets every connection; error: 500;
   * garbage: 200 with a body that is not JSON.
   */
  setMode(mode: KeyServerMode): void;
  close(): Promise<void>;
}

export type KeyServerMode = 'ok' | 'hang' | 'down' | 'error' | 'garbage';

export async function startKeyServer(jwks: unknown): Promise<KeyServer> {
  let body = JSON.stringify(jwks);
  let mode: KeyServerMode = 'ok';
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (mode === 'hang') return;
    if (mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (mode === 'error') return void res.writeHead(500).end('{"error":"internal"}');
    if (mode === 'garbage') return void res.writeHead(200).end('<html>not a key set</html>');
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    serve: (j) => void (body = JSON.stringify(j)),
    setMode: (m) => void (mode = m),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
