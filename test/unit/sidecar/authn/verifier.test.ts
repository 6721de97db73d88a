/**
 * The credential verifier against a JWKS file: security.md cases 1–5 (each a forged or broken
 * token that must be 401 with a logged reason), the verified-credential cache, the revocation
 * hook, and file re-reads.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EncryptJWT } from 'jose';
import { UnauthenticatedError, UnavailableError } from '../../../../src/errors.js';
import { issueDevToken } from '../../../../src/sidecar/authn/issue-token.js';
import {
  createCredentialVerifier,
  type CredentialVerifier,
  type CredentialVerifierOptions,
  type VerifiedCredential,
} from '../../../../src/sidecar/authn/verifier.js';
import { tempDir } from '../../../helpers/process.js';
import {
  assertRejected,
  AUDIENCE,
  captureLogger,
  claimsAt,
  createSigner,
  hmacWithPublicKey,
  ISSUER,
  jwksOf,
  manualClock,
  signToken,
  silentLogger,
  T0,
  T0_MS,
  TENANT,
  TENANT_CLAIM,
  unsecuredToken,
  USER,
  type Signer,
} from '../../../helpers/tokens.js';

const TOLERANCE = 30;

describe('credential verifier (JWKS file)', () => {
  const dir = tempDir('cedargate-verifier-');
  const jwksPath = join(dir.path, 'jwks.json');
  const clock = manualClock();
  let signer: Signer;
  let verifier: CredentialVerifier;

  function options(extra: Partial<CredentialVerifierOptions> = {}): CredentialVerifierOptions {
    return {
      keys: { kind: 'file', path: jwksPath },
      issuer: ISSUER,
      audience: AUDIENCE,
      tenantClaim: TENANT_CLAIM,
      clockToleranceSeconds: TOLERANCE,
      now: clock.now,
      logger: silentLogger,
      ...extra,
    };
  }

  before(async () => {
    signer = await createSigner();
    writeFileSync(jwksPath, JSON.stringify(jwksOf(signer)));
    verifier = await createCredentialVerifier(options());
  });
  after(() => dir.remove());

  it('accepts a valid credential and returns its identity, ids canonical', async () => {
    const jti = randomUUID();
    const token = await signToken(
      signer,
      claimsAt({ jti, role: 'x', sub: USER.toLowerCase(), [TENANT_CLAIM]: TENANT.toLowerCase() }),
    );
    const cred = await verifier.verify(`Bearer ${token}`);
    assert.equal(cred.token, token);
    assert.equal(cred.subject, USER);
    assert.equal(cred.tenantId, TENANT);
    assert.equal(cred.jti, jti);
    assert.equal(cred.issuedAt, T0);
    assert.equal(cred.expiresAt, T0 + 600);
    assert.equal(cred.claims.role, 'x');
    assert.equal(cred.claims.sub, USER.toLowerCase());
  });

  it('accepts the scheme in any case, a single-element header array, and typ at+jwt', async () => {
    const token = await signToken(signer, claimsAt(), { typ: 'at+jwt' });
    assert.equal((await verifier.verify(`bEaReR ${token}`)).subject, USER);
    assert.equal((await verifier.verify([`Bearer ${token}`])).subject, USER);
    const untyped = await signToken(signer, claimsAt(), { typ: undefined });
    assert.equal((await verifier.verify(`Bearer ${untyped}`)).subject, USER);
  });

  describe('the Authorization header', () => {
    it('is required', async () => {
      await assertRejected(verifier.verify(undefined), /no Authorization header/);
      await assertRejected(verifier.verify(''), /empty Authorization header/);
    });
    it('must appear exactly once', async () => {
      const token = await signToken(signer);
      await assertRejected(
        verifier.verify([`Bearer ${token}`, `Bearer ${token}`]),
        /2 Authorization headers/,
      );
      await assertRejected(verifier.verify([]), /0 Authorization headers/);
    });
    it('must use the Bearer scheme with one token', async () => {
      const token = await signToken(signer);
      await assertRejected(verifier.verify(`Basic ${token}`), /scheme "Basic" is not Bearer/);
      await assertRejected(verifier.verify(token), /not "<scheme> <token>"/);
      await assertRejected(verifier.verify(`Bearer ${token} ${token}`), /not "<scheme> <token>"/);
      await assertRejected(verifier.verify('Bearer not.a-token'), /2 parts/);
      await assertRejected(verifier.verify('Bearer a.b$.c'), /not base64url/);
    });
  });

  describe('security.md 1: algorithms are pinned', () => {
    it('rejects alg none', async () => {
      await assertRejected(verifier.verify(`Bearer ${unsecuredToken()}`), /alg "none"/);
    });
    it('rejects HS256 signed with the public key as the secret', async () => {
      for (const secret of [
        signer.spkiPem,
        JSON.stringify(signer.publicJwk),
        JSON.stringify(jwksOf(signer)),
      ]) {
        await assertRejected(
          verifier.verify(`Bearer ${hmacWithPublicKey(signer, secret)}`),
          /alg "HS256" is not accepted/,
        );
      }
    });
    it('rejects a token signed by another key under the same kid', async () => {
      const impostor = await createSigner(signer.kid);
      await assertRejected(verifier.verify(`Bearer ${await signToken(impostor)}`), /signature/i);
    });
    it('rejects a typ that is not JWT', async () => {
      const token = await signToken(signer, claimsAt(), { typ: 'JOSE+JSON' });
      await assertRejected(verifier.verify(`Bearer ${token}`), /typ "JOSE\+JSON" is not JWT/);
    });
  });

  describe('security.md 2: required claims and time', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['no exp', { exp: undefined }, /"exp" claim/],
      ['no iss', { iss: undefined }, /"iss" claim/],
      ['wrong iss', { iss: 'https://evil.test/' }, /"iss" claim/],
      ['no aud', { aud: undefined }, /"aud" claim/],
      ['wrong aud', { aud: 'other-api' }, /"aud" claim/],
      ['no sub', { sub: undefined }, /"sub" claim/],
      ['a sub that is not an id', { sub: '../admin' }, /sub is not a UUID-shaped/],
      ['no tenant claim', { [TENANT_CLAIM]: undefined }, /"tenant_id" claim/],
      ['a numeric tenant claim', { [TENANT_CLAIM]: 42 }, /"tenant_id" claim is a number/],
      [
        'a tenant claim that is not an id',
        { [TENANT_CLAIM]: 'acme' },
        /tenant_id is not a UUID-shaped/,
      ],
      ['a non-numeric exp', { exp: 'tomorrow' }, /"exp" claim/],
      ['a non-string jti', { jti: 7 }, /jti is not a string/],
      [
        'exp past beyond the tolerance',
        { exp: T0 - TOLERANCE - 1 },
        /"exp" claim timestamp check failed/,
      ],
      [
        'nbf future beyond the tolerance',
        { nbf: T0 + TOLERANCE + 1 },
        /"nbf" claim timestamp check failed/,
      ],
    ];
    for (const [name, overrides, reason] of cases) {
      it(`rejects ${name}`, async () => {
        await assertRejected(
          verifier.verify(`Bearer ${await signToken(signer, claimsAt(overrides))}`),
          reason,
        );
      });
    }
    it('accepts exp and nbf just within the tolerance', async () => {
      const token = await signToken(
        signer,
        claimsAt({ exp: T0 - TOLERANCE + 1, nbf: T0 + TOLERANCE }),
      );
      assert.equal((await verifier.verify(`Bearer ${token}`)).subject, USER);
    });
    it('accepts an audience array that includes ours', async () => {
      const token = await signToken(signer, claimsAt({ aud: ['other', AUDIENCE] }));
      assert.equal((await verifier.verify(`Bearer ${token}`)).subject, USER);
    });
  });

  describe('security.md 3: crit and key-carrying headers', () => {
    it('rejects crit with an unknown name', async () => {
      const token = await signToken(signer, claimsAt(), {
        crit: ['http://example.com/ext'],
        'http://example.com/ext': true,
      });
      await assertRejected(verifier.verify(`Bearer ${token}`), /crit/);
    });
    it('rejects crit naming b64 (an unencoded payload is not a JWT)', async () => {
      const token = await signToken(signer, claimsAt(), { crit: ['b64'], b64: true });
      await assertRejected(verifier.verify(`Bearer ${token}`), /crit/);
    });
    for (const [name, value] of [
      ['jku', 'http://127.0.0.1:1/jwks.json'],
      ['x5u', 'http://127.0.0.1:1/cert.pem'],
      ['x5c', ['MIIB']],
    ] as const) {
      it(`rejects a ${name} header even when the signature is good`, async () => {
        const token = await signToken(signer, claimsAt(), { [name]: value });
        await assertRejected(
          verifier.verify(`Bearer ${token}`),
          new RegExp(`"${name}" is not accepted`),
        );
      });
    }
    it('rejects an embedded jwk that signed the token itself', async () => {
      const attacker = await createSigner(signer.kid);
      const token = await signToken(attacker, claimsAt(), { jwk: attacker.publicJwk });
      await assertRejected(verifier.verify(`Bearer ${token}`), /"jwk" is not accepted/);
    });
  });

  describe('security.md 4: kid', () => {
    it('rejects path traversal in kid', async () => {
      for (const kid of ['../../x', '../../../etc/passwd', 'keys/../../x', '..']) {
        const token = await signToken(signer, claimsAt(), { kid });
        await assertRejected(verifier.verify(`Bearer ${token}`), /kid has characters/);
      }
    });
    it('rejects a kid of 10 KB, also when the token size limit would let it through', async () => {
      const roomy = await createCredentialVerifier(options({ maxTokenBytes: 64 * 1024 }));
      const token = await signToken(signer, claimsAt(), { kid: 'k'.repeat(10 * 1024) });
      await assertRejected(roomy.verify(`Bearer ${token}`), /kid of 10240 characters/);
    });
    it('rejects a kid with control characters or quotes, or that is not a string', async () => {
      for (const kid of ['a\nb', 'a"b', 'a\\b', 'a b', 7, '']) {
        const token = await signToken(signer, claimsAt(), { kid });
        await assertRejected(verifier.verify(`Bearer ${token}`), /kid/);
      }
    });
    it('rejects an unknown but well-formed kid', async () => {
      const token = await signToken(signer, claimsAt(), { kid: 'unknown-key' });
      await assertRejected(verifier.verify(`Bearer ${token}`), /no key in the key set matches/);
    });
  });

  describe('security.md 5: JWE and huge tokens', () => {
    it('rejects a JWE before any crypto', async () => {
      const jwe = await new EncryptJWT(claimsAt())
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .encrypt(new Uint8Array(32));
      assert.equal(jwe.split('.').length, 5);
      await assertRejected(verifier.verify(`Bearer ${jwe}`), /JWE/);
    });
    it('rejects a token over the size limit before any crypto', async () => {
      const token = await signToken(signer, claimsAt({ padding: 'p'.repeat(9 * 1024) }));
      await assertRejected(verifier.verify(`Bearer ${token}`), /over 8192 bytes/);
    });
    it('rejects a megabyte header without scanning it', async () => {
      await assertRejected(verifier.verify(`Bearer ${'a'.repeat(1024 * 1024)}`), /over 8192 bytes/);
    });
    it('honours a larger maxTokenBytes', async () => {
      const roomy = await createCredentialVerifier(options({ maxTokenBytes: 16 * 1024 }));
      const token = await signToken(signer, claimsAt({ padding: 'p'.repeat(9 * 1024) }));
      assert.equal((await roomy.verify(`Bearer ${token}`)).subject, USER);
    });
  });

  describe('logging', () => {
    it('logs the reason and never the token', async () => {
      const { logger, lines } = captureLogger();
      const logged = await createCredentialVerifier(options({ logger }));
      const token = await signToken(signer, claimsAt({ iss: 'https://evil.test/' }));
      await assertRejected(logged.verify(`Bearer ${token}`), /"iss" claim/);
      const [signature] = token.split('.').reverse();
      assert.match(lines(), /credential rejected/);
      assert.match(lines(), /"iss\\" claim/);
      assert.ok(
        signature !== undefined && !lines().includes(signature),
        'the token leaked into the log',
      );
      assert.ok(!lines().includes(token.split('.')[1] ?? '-'), 'the payload leaked into the log');
    });
  });

  describe('options', () => {
    it('refuses a clock tolerance beyond five minutes, or a missing issuer', async () => {
      await assert.rejects(
        createCredentialVerifier(options({ clockToleranceSeconds: 3600 })),
        /clock tolerance/,
      );
      await assert.rejects(createCredentialVerifier(options({ issuer: '' })), /issuer/);
    });
    it('refuses a key file that is missing, malformed, or holds a private key', async () => {
      const bad = join(dir.path, 'bad.json');
      await assert.rejects(
        createCredentialVerifier(
          options({ keys: { kind: 'file', path: join(dir.path, 'nope.json') } }),
        ),
        /ENOENT/,
      );
      writeFileSync(bad, '{"keys": [');
      await assert.rejects(
        createCredentialVerifier(options({ keys: { kind: 'file', path: bad } })),
        /not valid JSON/,
      );
      writeFileSync(bad, '{"keys": []}');
      await assert.rejects(
        createCredentialVerifier(options({ keys: { kind: 'file', path: bad } })),
        /not a JWKS/,
      );
      writeFileSync(bad, JSON.stringify({ keys: [{ ...signer.publicJwk, d: 'secret' }] }));
      await assert.rejects(
        createCredentialVerifier(options({ keys: { kind: 'file', path: bad } })),
        /private key/,
      );
    });
  });
});

describe('verified-credential cache', () => {
  const dir = tempDir('cedargate-verifier-cache-');
  const jwksPath = join(dir.path, 'jwks.json');
  let signer: Signer;

  before(async () => {
    signer = await createSigner();
    writeFileSync(jwksPath, JSON.stringify(jwksOf(signer)));
  });
  after(() => dir.remove());

  async function build(
    clock: { now: () => number },
    extra: Partial<CredentialVerifierOptions> = {},
  ) {
    return createCredentialVerifier({
      keys: { kind: 'file', path: jwksPath },
      issuer: ISSUER,
      audience: AUDIENCE,
      tenantClaim: TENANT_CLAIM,
      clockToleranceSeconds: TOLERANCE,
      now: clock.now,
      logger: silentLogger,
      ...extra,
    });
  }

  it('answers a repeated token from the cache', async () => {
    const verifier = await build(manualClock());
    const token = await signToken(signer);
    const first = await verifier.verify(`Bearer ${token}`);
    const second = await verifier.verify(`Bearer ${token}`);
    assert.deepEqual(second, first);
    assert.deepEqual(verifier.stats(), { cacheHits: 1, cacheMisses: 1, size: 1, verifications: 1 });
  });

  it('finds a token sent with another spelling of its header, still one hit and no jose', async () => {
    const verifier = await build(manualClock());
    const token = await signToken(signer);
    await verifier.verify(`Bearer ${token}`);
    for (const header of [`bearer ${token}`, `BEARER   ${token}  `, [`Bearer ${token}`]]) {
      assert.equal((await verifier.verify(header)).token, token);
    }
    assert.deepEqual(verifier.stats(), { cacheHits: 3, cacheMisses: 1, size: 1, verifications: 1 });
    // An odd spelling first: cached under the usual header, which then finds it.
    const other = await signToken(signer);
    await verifier.verify(`bearer ${other}`);
    assert.equal((await verifier.verify(`Bearer ${other}`)).token, other);
    assert.deepEqual(verifier.stats(), { cacheHits: 4, cacheMisses: 2, size: 2, verifications: 2 });
  });

  it('verifyCached: the cached credential of exactly this header, else undefined', async () => {
    const verifier = await build(manualClock());
    const token = await signToken(signer);
    assert.equal(verifier.verifyCached(`Bearer ${token}`), undefined, 'cold: nothing cached');
    assert.equal(verifier.verifyCached(undefined), undefined);
    assert.equal(verifier.verifyCached('Bearer not-a-token'), undefined);
    assert.deepEqual(verifier.stats(), { cacheHits: 0, cacheMisses: 0, size: 0, verifications: 0 });
    const cred = await verifier.verify(`Bearer ${token}`);
    assert.deepEqual(await verifier.verifyCached(`Bearer ${token}`), cred);
    // Another spelling or a repeated header is left to verify (which reads the header first).
    assert.equal(verifier.verifyCached(`bearer ${token}`), undefined);
    assert.equal(verifier.verifyCached([`Bearer ${token}`]), undefined);
    assert.deepEqual(verifier.stats(), { cacheHits: 1, cacheMisses: 1, size: 1, verifications: 1 });
  });

  it('verifyCached asks the revocation check too, and rejects a revoked credential with 401', async () => {
    let revoked = false;
    const logger = captureLogger();
    const verifier = await build(manualClock(), {
      logger: logger.logger,
      revocation: {
        assertNotRevoked() {
          if (revoked) throw new UnauthenticatedError('revoked');
        },
      },
    });
    const token = await signToken(signer);
    await verifier.verify(`Bearer ${token}`);
    revoked = true;
    const pending = verifier.verifyCached(`Bearer ${token}`);
    assert.ok(pending !== undefined);
    await assertRejected(pending, /^revoked$/);
    assert.match(logger.lines(), /"reason":"revoked".*"msg":"credential rejected"/);
  });

  it('keys the cache by the whole token: a different token is verified on its own', async () => {
    const verifier = await build(manualClock());
    const good = await signToken(signer);
    await verifier.verify(`Bearer ${good}`);
    // Same header and payload, different (broken) signature: must not ride on the cached entry.
    const [h, p] = good.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString('base64url')}`;
    await assertRejected(verifier.verify(`Bearer ${forged}`), /signature/i);
    assert.equal(verifier.stats().cacheHits, 0);
  });

  it('never serves a credential past its exp', async () => {
    const clock = manualClock();
    const verifier = await build(clock);
    const token = await signToken(signer, claimsAt({ exp: T0 + 10 }));
    await verifier.verify(`Bearer ${token}`);
    clock.advance(9_000);
    await verifier.verify(`Bearer ${token}`);
    assert.equal(verifier.stats().cacheHits, 1);
    // Past exp but within the tolerance: jose still accepts it, but only after a fresh check.
    clock.advance(2_000);
    await verifier.verify(`Bearer ${token}`);
    assert.deepEqual(verifier.stats(), { cacheHits: 1, cacheMisses: 2, size: 0, verifications: 2 });
    clock.advance(TOLERANCE * 1000);
    await assertRejected(verifier.verify(`Bearer ${token}`), /"exp" claim timestamp check failed/);
    assert.equal(verifier.stats().cacheHits, 1);
  });

  it('re-verifies a long-lived credential at least every minute', async () => {
    const clock = manualClock();
    const verifier = await build(clock);
    const token = await signToken(signer, claimsAt({ exp: T0 + 3600 }));
    await verifier.verify(`Bearer ${token}`);
    clock.advance(60_001);
    await verifier.verify(`Bearer ${token}`);
    assert.deepEqual(verifier.stats(), { cacheHits: 0, cacheMisses: 2, size: 1, verifications: 2 });
  });

  it('stays within cacheMax entries', async () => {
    const verifier = await build(manualClock(), { cacheMax: 2 });
    for (let i = 0; i < 5; i++) await verifier.verify(`Bearer ${await signToken(signer)}`);
    assert.equal(verifier.stats().size, 2);
  });

  it('asks the revocation check on every call, cached or not', async () => {
    const seen: VerifiedCredential[] = [];
    const revoked = new Set<string>();
    const verifier = await build(manualClock(), {
      revocation: {
        assertNotRevoked(cred) {
          seen.push(cred);
          if (cred.jti !== undefined && revoked.has(cred.jti))
            throw new UnauthenticatedError('revoked');
        },
      },
    });
    const jti = randomUUID();
    const token = await signToken(signer, claimsAt({ jti }));
    await verifier.verify(`Bearer ${token}`);
    await verifier.verify(`Bearer ${token}`);
    assert.equal(seen.length, 2);
    assert.equal(verifier.stats().cacheHits, 1);
    revoked.add(jti);
    await assertRejected(verifier.verify(`Bearer ${token}`), /^revoked$/);
    assert.equal(seen.length, 3);
    assert.equal(verifier.stats().cacheHits, 2);
  });

  it('passes a 503 from the revocation check through, cached or not', async () => {
    let down = false;
    const verifier = await build(manualClock(), {
      revocation: {
        assertNotRevoked() {
          if (down) throw new UnavailableError('revocation store unreachable');
        },
      },
    });
    const token = await signToken(signer);
    await verifier.verify(`Bearer ${token}`);
    down = true;
    for (const t of [token, await signToken(signer)]) {
      await assert.rejects(verifier.verify(`Bearer ${t}`), (err: unknown) => {
        assert.ok(err instanceof UnavailableError);
        assert.equal(err.code, 'unavailable');
        assert.equal(err.status, 503);
        return true;
      });
    }
  });
});

describe('JWKS file re-reads', () => {
  it('picks up a changed file, and a new kid at most once a second', async () => {
    const dir = tempDir('cedargate-verifier-reload-');
    try {
      const path = join(dir.path, 'jwks.json');
      const a = await createSigner('key-a');
      const b = await createSigner('key-b');
      const c = await createSigner('key-c');
      const d = await createSigner('key-d');
      writeFileSync(path, JSON.stringify(jwksOf(a)));
      const fixed = new Date(T0_MS);
      utimesSync(path, fixed, fixed);
      const original = statSync(path);
      const clock = manualClock();
      const verifier = await createCredentialVerifier({
        keys: { kind: 'file', path },
        issuer: ISSUER,
        audience: AUDIENCE,
        tenantClaim: TENANT_CLAIM,
        clockToleranceSeconds: TOLERANCE,
        now: clock.now,
        logger: silentLogger,
      });
      assert.equal((await verifier.verify(`Bearer ${await signToken(a)}`)).subject, USER);

      // Rewritten in a way stat cannot see (same size, inode and mtime): only the unknown kid
      // makes the verifier read it again.
      const rewriteUnseen = (...signers: (typeof a)[]) => {
        writeFileSync(path, JSON.stringify(jwksOf(...signers)));
        utimesSync(path, fixed, fixed);
      };
      rewriteUnseen(b);
      const rewritten = statSync(path);
      assert.deepEqual(
        [rewritten.size, rewritten.ino, rewritten.mtimeMs],
        [original.size, original.ino, original.mtimeMs],
      );
      clock.advance(1000);
      assert.equal((await verifier.verify(`Bearer ${await signToken(b)}`)).subject, USER);
      // Within the same second, another unknown kid does not cause another read...
      rewriteUnseen(c);
      await assertRejected(
        verifier.verify(`Bearer ${await signToken(c)}`),
        /no key in the key set/,
      );
      // ...a second later it does.
      clock.advance(1000);
      assert.equal((await verifier.verify(`Bearer ${await signToken(c)}`)).subject, USER);
      // A key that left the file stops working once the file is read again.
      await assertRejected(
        verifier.verify(`Bearer ${await signToken(a)}`),
        /no key in the key set/,
      );

      // A visible change (new mtime) is picked up by the periodic check, with no unknown kid:
      // the known key c is withdrawn.
      writeFileSync(path, JSON.stringify(jwksOf(d)));
      utimesSync(path, fixed, new Date(T0_MS + 5000));
      // (the file is looked at no more than once a second)
      assert.equal((await verifier.verify(`Bearer ${await signToken(c)}`)).subject, USER);
      clock.advance(1000);
      const cToken = await signToken(c);
      await assertRejected(verifier.verify(`Bearer ${cToken}`), /no key in the key set/);
      assert.equal((await verifier.verify(`Bearer ${await signToken(d)}`)).subject, USER);

      // A broken rewrite keeps the last good set in force.
      writeFileSync(path, 'not json');
      utimesSync(path, fixed, new Date(T0_MS + 9000));
      clock.advance(1000);
      assert.equal((await verifier.verify(`Bearer ${await signToken(d)}`)).subject, USER);
    } finally {
      dir.remove();
    }
  });
});

describe('development key source', () => {
  it('verifies tokens minted with the dev key of DATA_DIR', async () => {
    const dir = tempDir('cedargate-verifier-dev-');
    try {
      const verifier = await createCredentialVerifier({
        keys: { kind: 'dev', dataDir: dir.path },
        issuer: 'cedargate-dev',
        audience: 'cedargate',
        tenantClaim: 'org',
        clockToleranceSeconds: 5,
        logger: silentLogger,
      });
      const token = await issueDevToken(dir.path, {
        tenant: TENANT,
        sub: USER,
        ttlSeconds: 60,
        issuer: 'cedargate-dev',
        audience: 'cedargate',
        tenantClaim: 'org',
      });
      const cred = await verifier.verify(`Bearer ${token}`);
      assert.equal(cred.tenantId, TENANT);
      assert.equal(cred.subject, USER);
      assert.equal(typeof cred.jti, 'string');
      const wrongAudience = await issueDevToken(dir.path, {
        tenant: TENANT,
        sub: USER,
        ttlSeconds: 60,
        issuer: 'cedargate-dev',
        audience: 'someone-else',
        tenantClaim: 'org',
      });
      await assertRejected(verifier.verify(`Bearer ${wrongAudience}`), /"aud" claim/);
    } finally {
      dir.remove();
    }
  });
});
