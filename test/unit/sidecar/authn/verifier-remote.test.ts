/**
 * The verifier against a remote JWKS served by an in-test HTTP server on a free port
 * (security.md 3 and 7): no header makes it fetch anything, a down or slow key server fails
 * within the timeout, fetched keys outlive the server, and an unknown kid causes one refetch
 * per cooldown.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import { UnavailableError } from '../../../../src/errors.js';
import {
  createCredentialVerifier,
  type CredentialVerifierOptions,
} from '../../../../src/sidecar/authn/verifier.js';
import { freePort, waitFor } from '../../../helpers/net.js';
import {
  assertRejected,
  AUDIENCE,
  claimsAt,
  createSigner,
  ISSUER,
  jwksOf,
  signToken,
  silentLogger,
  TENANT_CLAIM,
  USER,
  type Signer,
} from '../../../helpers/tokens.js';

/** A JWKS server that counts what it is asked, and can be told to stall. */
interface KeyServer {
  url: string;
  requests: string[];
  serve(jwks: unknown): void;
  /** Answers every request with this status and raw body, until `serve` is called again. */
  fail(status: number, body: string): void;
  stall(): void;
  close(): Promise<void>;
}

async function startKeyServer(initial: unknown): Promise<KeyServer> {
  let jwks = initial;
  let stalled = false;
  let failure: { status: number; body: string } | undefined;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (stalled) return; // never answers: the client's timeout must end it
    if (failure !== undefined) {
      res.writeHead(failure.status, { 'content-type': 'application/json' }).end(failure.body);
      return;
    }
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    requests,
    serve: (next) => {
      jwks = next;
      failure = undefined;
    },
    fail: (status, body) => {
      failure = { status, body };
    },
    stall: () => {
      stalled = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A key server that fails is a dependency down: 503 `unavailable`, never a verdict on the token. */
async function assertKeysUnavailable(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UnavailableError, `expected UnavailableError, got ${String(err)}`);
    assert.equal(err.code, 'unavailable');
    assert.equal(err.status, 503);
    return true;
  });
}

/** Resolves once the key server has been asked `n` times (a background fetch is not awaited). */
async function waitForRequests(server: KeyServer, n: number): Promise<void> {
  for (let i = 0; i < 200 && server.requests.length < n; i++) {
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(server.requests.length, n, 'the expected key set fetch did not happen');
}

/** Tokens valid at the real current time (jose's remote set runs on Date.now). */
function liveClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return claimsAt({ iat: now, exp: now + 600 });
}

function remoteOptions(
  url: string,
  extra: Partial<CredentialVerifierOptions> & { timeoutMs?: number; cooldownMs?: number } = {},
): CredentialVerifierOptions {
  const { timeoutMs = 2000, cooldownMs = 30_000, ...rest } = extra;
  return {
    keys: { kind: 'url', url, timeoutMs, cooldownMs },
    issuer: ISSUER,
    audience: AUDIENCE,
    tenantClaim: TENANT_CLAIM,
    clockToleranceSeconds: 30,
    logger: silentLogger,
    ...rest,
  };
}

describe('credential verifier (remote JWKS)', () => {
  let signer: Signer;
  let server: KeyServer;

  before(async () => {
    signer = await createSigner();
  });
  afterEach(async () => {
    mock.timers.reset();
    await server.close();
  });
  after(() => mock.timers.reset());

  it('fetches the key set once, shared by concurrent first requests', async () => {
    server = await startKeyServer(jwksOf(signer));
    const verifier = await createCredentialVerifier(remoteOptions(server.url));
    const tokens = await Promise.all(
      Array.from({ length: 8 }, () => signToken(signer, liveClaims())),
    );
    const creds = await Promise.all(tokens.map((t) => verifier.verify(`Bearer ${t}`)));
    assert.ok(creds.every((c) => c.subject === USER));
    assert.deepEqual(server.requests, ['/jwks.json']);
  });

  it('uses the injected fetch', async () => {
    server = await startKeyServer(jwksOf(signer));
    const fetched: string[] = [];
    const fetchImpl: typeof fetch = (input, init) => {
      fetched.push(input instanceof Request ? input.url : input.toString());
      return fetch(input, init);
    };
    const verifier = await createCredentialVerifier(remoteOptions(server.url, { fetchImpl }));
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.deepEqual(fetched, [server.url]);
  });

  it('never fetches what a token header points at (jku, x5u, jwk, x5c, kid)', async () => {
    server = await startKeyServer(jwksOf(signer));
    const verifier = await createCredentialVerifier(remoteOptions(server.url));
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.equal(server.requests.length, 1);
    const evil = server.url.replace('/jwks.json', '/evil');
    const attacker = await createSigner(signer.kid);
    const headers: Record<string, unknown>[] = [
      { jku: evil },
      { x5u: evil },
      { jwk: attacker.publicJwk },
      { x5c: ['MIIB'] },
      { kid: '../../x' },
      { kid: '../evil' },
      { kid: 'k'.repeat(300) },
    ];
    for (const header of headers) {
      const token = await signToken(
        header.jwk === undefined ? signer : attacker,
        liveClaims(),
        header,
      );
      await assertRejected(verifier.verify(`Bearer ${token}`), /not accepted|kid/);
    }
    assert.deepEqual(server.requests, ['/jwks.json'], 'a token header caused an outbound request');
  });

  it('fails within the timeout when the key server stalls', { timeout: 10_000 }, async () => {
    server = await startKeyServer(jwksOf(signer));
    server.stall();
    const verifier = await createCredentialVerifier(remoteOptions(server.url, { timeoutMs: 200 }));
    await assertKeysUnavailable(verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`));
    // The timeout may end the fetch before the server has even seen it on a loaded machine.
    await waitFor(() => server.requests.length > 0, 5_000, 'the key server to see the fetch');
    assert.equal(server.requests.length, 1);
  });

  it('fails when the key server is down', { timeout: 10_000 }, async () => {
    server = await startKeyServer(jwksOf(signer));
    const url = server.url;
    await server.close();
    const verifier = await createCredentialVerifier(remoteOptions(url, { timeoutMs: 500 }));
    await assertKeysUnavailable(verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`));
  });

  it('fails when the key server answers something other than a JWKS', async () => {
    server = await startKeyServer({ not: 'a jwks' });
    const verifier = await createCredentialVerifier(remoteOptions(server.url));
    await assertKeysUnavailable(verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`));
  });

  for (const [what, status, body] of [
    ['a 500', 500, '{"error":"internal"}'],
    ['a 503', 503, ''],
    ['garbage that is not JSON', 200, '<html>oops</html>'],
  ] as const) {
    it(`a key server answering ${what} → 503 unavailable, not 401`, async () => {
      server = await startKeyServer(jwksOf(signer));
      server.fail(status, body);
      const verifier = await createCredentialVerifier(remoteOptions(server.url));
      await assertKeysUnavailable(
        verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`),
      );
      assert.equal(server.requests.length, 1);
    });
  }

  it('an outage longer than the cache age: cached keys keep verifying, refreshed in the background', async () => {
    server = await startKeyServer(jwksOf(signer));
    // jose's remote set reads Date.now(); move that clock instead of waiting ten minutes.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const verifier = await createCredentialVerifier(
      remoteOptions(server.url, { now: () => Date.now() }),
    );
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.equal(server.requests.length, 1);

    server.fail(500, 'down for maintenance');
    mock.timers.tick(11 * 60_000);
    // A fresh token (the credential cache cannot answer): the cached key verifies it.
    const cred = await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.equal(cred.subject, USER);
    // ...and the stale set made the verifier try a refresh, without waiting for it.
    await waitForRequests(server, 2);
    // The refresh keeps failing: still no refusal, and no fetch per request.
    for (let i = 0; i < 3; i++) {
      await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    }
    assert.equal(server.requests.length, 2, 'a failed refresh is retried at most once a cooldown');

    // The issuer is back and has rotated: the next background refresh picks up the new set.
    const rotated = await createSigner();
    server.serve(jwksOf(rotated));
    mock.timers.tick(60_000);
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    await waitForRequests(server, 3);
    const rotatedToken = await signToken(rotated, liveClaims());
    let verified = false;
    for (let i = 0; i < 100 && !verified; i++) {
      verified = await verifier.verify(`Bearer ${rotatedToken}`).then(
        (c) => c.subject === USER,
        () => false,
      );
      if (!verified) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(verified, 'the refreshed key set never took effect');
    assert.equal(server.requests.length, 3);
    // The withdrawn key no longer verifies once the refreshed set is in.
    await assertRejected(
      verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`),
      /no key/,
    );
  });

  it('keeps verifying with fetched keys after the key server goes away', async () => {
    server = await startKeyServer(jwksOf(signer));
    const verifier = await createCredentialVerifier(remoteOptions(server.url));
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    server.stall();
    // A new token, so the credential cache cannot answer: the cached key does.
    const cred = await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.equal(cred.subject, USER);
    assert.equal(verifier.stats().cacheHits, 0);
    assert.equal(server.requests.length, 1);
  });

  it('refetches once on an unknown kid, then not again within the cooldown', async () => {
    const cooldownMs = 60_000;
    server = await startKeyServer(jwksOf(signer));
    // jose's remote set reads Date.now(); move that clock instead of sleeping.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const verifier = await createCredentialVerifier(
      remoteOptions(server.url, { cooldownMs, now: () => Date.now() }),
    );
    await verifier.verify(`Bearer ${await signToken(signer, liveClaims())}`);
    assert.equal(server.requests.length, 1);

    // Right after a fetch, an unknown kid does not refetch (the cooldown covers the last fetch).
    const rotated = await createSigner();
    await assertRejected(
      verifier.verify(`Bearer ${await signToken(rotated, liveClaims())}`),
      /no key/,
    );
    assert.equal(server.requests.length, 1);

    // Past the cooldown, the issuer has rotated: one unknown kid causes exactly one refetch...
    server.serve(jwksOf(signer, rotated));
    mock.timers.tick(cooldownMs + 1);
    const cred = await verifier.verify(`Bearer ${await signToken(rotated, liveClaims())}`);
    assert.equal(cred.subject, USER);
    assert.equal(server.requests.length, 2);

    // ...and a flood of unknown kids right after it causes none.
    const strangers = await Promise.all([createSigner(), createSigner(), createSigner()]);
    for (const stranger of strangers) {
      await assertRejected(
        verifier.verify(`Bearer ${await signToken(stranger, liveClaims())}`),
        /no key/,
      );
    }
    assert.equal(server.requests.length, 2);

    // Once the cooldown has passed again, the next unknown kid may look once more.
    mock.timers.tick(cooldownMs + 1);
    const [first] = strangers;
    assert.ok(first !== undefined);
    await assertRejected(
      verifier.verify(`Bearer ${await signToken(first, liveClaims())}`),
      /no key/,
    );
    assert.equal(server.requests.length, 3);
  });
});
