/**
 * security.md lines 1–7 (credentials) through the real running sidecar: every forged, expired,
 * self-keyed, oversized or misdirected credential is answered 401 (431 for headers over the
 * server's limit) in the contract's format, nothing reaches the backend, no token header makes
 * the sidecar fetch anything, and the JWKS endpoint's failures are contained.
 * (The verifier-level unit tests are in test/unit/sidecar/authn/.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import { startStack, type Reply, type Stack } from '../helpers/stack.js';
import { assertError } from '../helpers/contract.js';
import {
  createSigner,
  devSigner,
  hmacWithPublicKey,
  jwksOf,
  liveClaims,
  signToken,
  unsecuredToken,
  type Signer,
} from '../helpers/tokens.js';
import { startKeyServer, type KeyServer } from '../helpers/key-server.js';

function assert401(r: Reply, what: string): void {
  assertError(r, 401, 'unauthenticated', what);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/, what);
}

describe('credentials through the sidecar (security.md 1–6)', () => {
  let s: Stack;
  let signer: Signer;
  let tA: string;
  let tB: string;
  let ownerA: User;
  let ownerB: User;
  let keys: KeyServer; // stands for every URL a token might point at

  before(async () => {
    s = await startStack();
    signer = await devSigner(s.dataDir);
    const a = await s.createTenant('acme');
    const b = await s.createTenant('globex');
    [tA, tB, ownerA, ownerB] = [a.tenantId, b.tenantId, a.owner, b.owner];
    keys = await startKeyServer(jwksOf(await createSigner()));
  });
  after(async () => {
    await keys?.close();
    await s?.stop();
  });
  beforeEach(() => s.recorder.clear());

  const list = (token: string, tenant = tA) => s.call('GET', '/v1/users', { token, tenant });
  const claims = (o: Record<string, unknown> = {}) => liveClaims(tA, ownerA.id, o);

  it('control: a well-formed credential of the dev key is accepted (so every 401 below is the attack’s)', async () => {
    const r = await list(await signToken(signer, claims()));
    assert.equal(r.status, 200, r.text);
    assert.equal(s.recorder.forwarded().length, 1);
  });

  it('1. alg none (any case) and HS256 keyed with the public key → 401, never forwarded', async () => {
    const none = unsecuredToken(claims());
    assert401(await list(none), 'alg none');
    for (const alg of ['None', 'NONE', 'nOnE']) {
      const [, payload] = none.split('.');
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
      assert401(await list(`${header}.${payload}.`), `alg ${alg}`);
    }
    // Key confusion (CVE-2022-23540): the verifier's public key, in every form it is published, as an HMAC secret.
    for (const [what, secret] of [
      ['PEM', signer.spkiPem],
      ['PEM without trailing newline', signer.spkiPem.trim()],
      ['JWK JSON', JSON.stringify(signer.publicJwk)],
      ['JWK x', String(signer.publicJwk.x)],
    ] as const) {
      assert401(await list(hmacWithPublicKey(signer, secret, claims())), `HS256 with ${what}`);
    }
    // The real key, but an algorithm outside the pinned list in the header.
    assert401(
      await list(await signToken(signer, claims(), { alg: 'HS256' })),
      'ES256 signature labelled HS256',
    );
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('2. no exp, wrong or missing iss/aud, exp past or nbf future beyond the tolerance → 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const bad: [string, Record<string, unknown>][] = [
      ['no exp', { exp: undefined }],
      ['exp not a number', { exp: String(now + 600) }],
      ['missing iss', { iss: undefined }],
      ['wrong iss', { iss: 'https://evil.example/' }],
      ['iss differing in case', { iss: 'CEDARGATE-DEV' }],
      ['missing aud', { aud: undefined }],
      ['wrong aud', { aud: 'someone-else' }],
      ['aud list without ours', { aud: ['a', 'b'] }],
      ['exp in the past', { iat: now - 7200, exp: now - 120 }],
      ['nbf in the future', { nbf: now + 120 }],
      ['iat in the future', { iat: now + 3600, exp: now + 7200 }],
      ['no sub', { sub: undefined }],
      ['no tenant claim', { tenant_id: undefined }],
      ['sub not an id', { sub: '../../admin' }],
    ];
    for (const [what, o] of bad) assert401(await list(await signToken(signer, claims(o))), what);
    assert.equal(s.recorder.forwarded().length, 0);
    // The tolerance is small but there: a few seconds of skew still pass.
    const skew = await list(await signToken(signer, claims({ nbf: now + 5 })));
    assert.equal(skew.status, 200, `nbf 5 s ahead should be within the tolerance: ${skew.text}`);
    const audList = await list(await signToken(signer, claims({ aud: ['other', 'cedargate'] })));
    assert.equal(audList.status, 200, audList.text);
  });

  it('3. crit with an unknown name, jku / x5u / embedded jwk / x5c → 401 and no outbound fetch', async () => {
    const attacker = await createSigner();
    const cases: [string, Signer, Record<string, unknown>][] = [
      ['crit unknown', signer, { crit: ['cedargate-ext'], 'cedargate-ext': true }],
      ['crit naming a registered claim', signer, { crit: ['exp'] }],
      ['crit empty', signer, { crit: [] }],
      ['jku to an attacker key set', attacker, { jku: `${keys.url}/jku.json`, kid: attacker.kid }],
      ['jku to the real key set, dev key', signer, { jku: `${keys.url}/jku-dev.json` }],
      ['x5u', attacker, { x5u: `${keys.url}/x5u.pem`, kid: attacker.kid }],
      ['embedded jwk', attacker, { jwk: attacker.publicJwk, kid: undefined }],
      ['embedded jwk beside the real kid', attacker, { jwk: attacker.publicJwk, kid: signer.kid }],
      ['x5c', attacker, { x5c: ['MIIB'], kid: attacker.kid }],
    ];
    for (const [what, key, header] of cases) {
      assert401(await list(await signToken(key, claims(), header)), what);
    }
    // Give a stray fetch time to land before looking.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(keys.requests, [], 'a token header made the sidecar fetch a URL');
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('4. kid of ../../x, a kid that names a planted key file, or 10 KB → 401', async () => {
    // Plant a key set the attacker controls, and name it (relative and absolute) in kid: if the kid
    // ever reached a path, this token would verify.
    const attacker = await createSigner();
    const planted = join(s.dataDir, 'planted');
    mkdirSync(planted, { recursive: true });
    const plantedFile = join(planted, 'jwks.json');
    writeFileSync(plantedFile, JSON.stringify(jwksOf(attacker)));
    const kids = [
      '../../x',
      '..%2f..%2fx',
      relative(s.dataDir, plantedFile),
      `../${relative(join(s.dataDir, '..'), plantedFile)}`,
      plantedFile,
      `${attacker.kid}/../${attacker.kid}`,
      'a'.repeat(300),
      'k'.repeat(10 * 1024),
      "x' OR '1'='1",
      'kid\u0000nul',
      'revoked:*',
    ];
    for (const kid of kids) {
      assert401(
        await list(await signToken(attacker, claims(), { kid })),
        `kid ${kid.slice(0, 30)}`,
      );
      // The real key with a hostile kid: the kid selects nothing, so nothing verifies.
      assert401(
        await list(await signToken(signer, claims(), { kid })),
        `dev key, kid ${kid.slice(0, 30)}`,
      );
    }
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('5. a JWE, a huge token, a header over the server limit → 401/431, answered fast', async () => {
    const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwe = `${b({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${'A'.repeat(40)}.${'B'.repeat(16)}.${'C'.repeat(60)}.${'D'.repeat(22)}`;
    assert401(await list(jwe), 'JWE');
    const dirJwe = `${b({ alg: 'dir', enc: 'A128GCM' })}..${'B'.repeat(16)}.${'C'.repeat(60)}.${'D'.repeat(22)}`;
    assert401(await list(dirJwe), 'JWE alg dir');

    // ~12 KB: under the 16 KiB header limit, over the 8 KiB token cap; refused before any crypto.
    const huge = await signToken(signer, claims({ pad: 'p'.repeat(9 * 1024) }));
    const t0 = Date.now();
    assert401(await list(huge), '~12 KB token');
    assert.ok(Date.now() - t0 < 5000, 'a huge token did not hang');

    // Over MAX_HEADER_BYTES (16 KiB): node's parser stops reading, the sidecar answers 431 and closes.
    const over = rawRequestText('GET', '/v1/users', [
      ['Host', 'x'],
      ['Authorization', `Bearer ${'e'.repeat(40 * 1024)}`],
      ['X-Tenant-ID', tA],
    ]);
    const ex = await sendRaw(Number(new URL(s.url).port), over, { maxMs: 10_000 });
    assert.equal(ex.responses.length, 1, ex.text);
    assertError(ex.responses[0]!, 431, 'header_too_large');
    assert.ok(ex.closedByServer, 'the connection is closed after a 431');
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('6. a token of tenant A with X-Tenant-ID: B → 403 tenant_mismatch, also after A warmed every cache', async () => {
    const tokA = await s.token(tA, ownerA.id);
    // Warm the credential, user and decision caches with A's token on every route.
    const victim = await s.createUser(tA, tokA, 'Victim', ['user']);
    for (let i = 0; i < 3; i++) {
      assert.equal((await s.call('GET', '/v1/users', { token: tokA, tenant: tA })).status, 200);
      assert.equal(
        (await s.call('GET', `/v1/users/${victim.id}`, { token: tokA, tenant: tA })).status,
        200,
      );
    }
    s.recorder.clear();
    const attempts: [string, string, unknown?][] = [
      ['GET', '/v1/users'],
      ['GET', `/v1/users/${victim.id}`],
      ['GET', `/v1/users/${ownerB.id}`],
      ['PUT', `/v1/users/${ownerB.id}`, { name: 'pwned' }],
      ['DELETE', `/v1/users/${ownerB.id}`],
      ['POST', '/v1/users', { name: 'Mole', email: 'mole@globex.test', roles: ['admin'] }],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [method, path, body] of attempts) {
        for (const tenant of [tB, tB.toLowerCase()]) {
          const o: Parameters<Stack['call']>[2] = { token: tokA, tenant };
          if (body !== undefined) o.body = body;
          assertError(
            await s.call(method, path, o),
            403,
            'tenant_mismatch',
            `${method} ${path} as B`,
          );
        }
      }
    }
    assert.equal(s.recorder.forwarded().length, 0);
    // ...and A's token still works for A, so the refusal above was about the tenant.
    assert.equal((await s.call('GET', '/v1/users', { token: tokA, tenant: tA })).status, 200);
  });
});

describe('the JWKS endpoint down or slow (security.md 7)', () => {
  let s: Stack;
  let keys: KeyServer;
  let issuer: Signer;
  let tenant: string;
  let owner: User;
  const port = () => Number(new URL(s.url).port);

  before(async () => {
    issuer = await createSigner();
    keys = await startKeyServer(jwksOf(issuer));
    keys.setMode('hang'); // the first thing the sidecar sees is a key server that never answers
    s = await startStack({
      env: { JWKS_URL: `${keys.url}/jwks.json`, JWKS_TIMEOUT_MS: '300', JWKS_COOLDOWN_MS: '1000' },
    });
    const t = await s.createTenant('initech');
    tenant = t.tenantId;
    owner = t.owner;
  });
  after(async () => {
    await s?.stop();
    await keys?.close();
  });

  const tokenOf = (signer: Signer) => signToken(signer, liveClaims(tenant, owner.id));
  const list = async (token: string) => s.call('GET', '/v1/users', { token, tenant });

  it('a hanging or dead key server: requests fail within the timeout, in the contract format', async () => {
    assert.ok(port() > 0);
    const t0 = Date.now();
    const r = await list(await tokenOf(issuer));
    assert.ok(Date.now() - t0 < 5000, 'the sidecar did not hang on the key server');
    // The key server failing says nothing about the token: a dependency is down (503).
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.code, 'unavailable');
    keys.setMode('down');
    const reset = await list(await tokenOf(issuer));
    assert.equal(reset.status, 503, reset.text);
    assert.equal(reset.body.code, 'unavailable');
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('a key server answering 500 or garbage: 503 unavailable, never forwarded', async () => {
    for (const mode of ['error', 'garbage'] as const) {
      keys.setMode(mode);
      const r = await list(await tokenOf(issuer));
      assert.equal(r.status, 503, `${mode}: ${r.text}`);
      assert.equal(r.body.code, 'unavailable', mode);
      assert.equal(r.headers.get('www-authenticate'), null, `${mode}: not a credential problem`);
    }
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('once fetched, cached keys keep verifying while the key server is down', async () => {
    keys.setMode('ok');
    assert.equal((await list(await tokenOf(issuer))).status, 200);
    keys.setMode('down');
    const before = keys.requests.length;
    // Fresh tokens (new jti): the verified-credential cache cannot answer, the cached key does.
    for (let i = 0; i < 3; i++) {
      const r = await list(await tokenOf(issuer));
      assert.equal(r.status, 200, r.text);
    }
    assert.equal(keys.requests.length, before, 'known kids never refetch');
  });

  it('an unknown kid triggers one rate-limited refetch, then key rotation works', async () => {
    keys.setMode('ok');
    const rotated = await createSigner();
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s cooldown since the last fetch
    const before = keys.requests.length;
    // A flood of unknown kids, concurrently and one after another: at most one refetch.
    const strangers = await Promise.all(Array.from({ length: 4 }, () => createSigner()));
    const flood = await Promise.all(strangers.map(async (st) => list(await tokenOf(st))));
    for (const r of flood) assert401(r, 'unknown kid');
    for (const st of strangers) assert401(await list(await tokenOf(st)), 'unknown kid again');
    assert.equal(
      keys.requests.length - before,
      1,
      `refetches: ${keys.requests.slice(before).join(', ')}`,
    );

    // The issuer rotates: after the cooldown, the new kid causes one fetch and verifies.
    keys.serve(jwksOf(issuer, rotated));
    await new Promise((r) => setTimeout(r, 1100));
    const r = await list(await tokenOf(rotated));
    assert.equal(r.status, 200, r.text);
    assert.equal(keys.requests.length - before, 2);
  });
});
