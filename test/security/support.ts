/**
 * What the security tests share: the contract's error assertion, credentials crafted byte by
 * byte with the running stack's own development key (so a test can put anything in a token
 * header), and the claims a valid credential of the stack carries.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportSPKI, importJWK, type CryptoKey, type JWK } from 'jose';
import { devJwksPath, ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';
import type { Signer } from '../unit/sidecar/authn/fixtures.js';
import type { RawResponse } from '../helpers/raw-http.js';
import type { Reply } from '../helpers/stack.js';

export {
  signToken,
  unsecuredToken,
  hmacWithPublicKey,
  createSigner,
  jwksOf,
} from '../unit/sidecar/authn/fixtures.js';
export type { Signer };

/** The claims `start` requires by default. */
export const DEV_ISSUER = 'cedargate-dev';
export const DEV_AUDIENCE = 'cedargate';

/** A status, the contract's error body with that code, and nothing else. */
export function assertError(r: Reply | RawResponse, status: number, code: string, what = ''): void {
  const body = 'json' in r ? r.json : r.body;
  const text = 'text' in r ? r.text : r.body;
  assert.equal(r.status, status, `${what} expected ${status} ${code}, got ${r.status} ${text}`);
  assert.equal(body?.code, code, `${what} ${text}`);
  assert.equal(typeof body?.message, 'string', `${what} ${text}`);
  const extra = Object.keys(body as object).filter(
    (k) => !['code', 'message', 'details', 'notices'].includes(k),
  );
  assert.deepEqual(extra, [], `${what} fields outside the contract's error body: ${text}`);
}

/** Any 4xx in the contract's format (the fuzzing oracle). */
export function assertContract4xx(r: Reply | RawResponse, what: string): void {
  const body = 'json' in r ? r.json : r.body;
  const text = 'text' in r ? r.text : r.body;
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status} ${text}`);
  assert.equal(typeof body?.code, 'string', `${what}: ${text}`);
  assert.equal(typeof body?.message, 'string', `${what}: ${text}`);
}

/** The stack's development key as a fixtures `Signer`, so any header and claims can be signed. */
export async function devSigner(dataDir: string): Promise<Signer> {
  const { privateKey, kid } = await ensureDevKeys(dataDir);
  const jwks = JSON.parse(await readFile(devJwksPath(dataDir), 'utf8')) as { keys: JWK[] };
  const publicJwk = jwks.keys.find((k) => k.kid === kid) ?? (jwks.keys[0] as JWK);
  const publicKey = (await importJWK(publicJwk, 'ES256')) as CryptoKey;
  return { privateKey, kid, publicJwk, spkiPem: await exportSPKI(publicKey) };
}

/** Claims of a valid credential for `sub` in `tenant`, now; `overrides` applied (undefined deletes). */
export function liveClaims(
  tenant: string,
  sub: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: DEV_ISSUER,
    aud: DEV_AUDIENCE,
    sub,
    tenant_id: tenant,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete claims[k];
    else claims[k] = v;
  }
  return claims;
}

/** A JWKS endpoint the test controls: what it serves, whether it answers, and what it was asked. */
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

/** GET an admin endpoint (e.g. /status) as parsed JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function adminJson(adminUrl: string, path: string): Promise<any> {
  return (await fetch(`${adminUrl}${path}`)).json();
}
