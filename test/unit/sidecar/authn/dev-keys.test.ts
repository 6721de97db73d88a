/** The development key pair: files, permissions, kid, and creation races on a fresh DATA_DIR. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  SignJWT,
  type JWK,
} from 'jose';
import {
  devJwksPath,
  devSigningKeyPath,
  ensureDevKeys,
} from '../../../../src/sidecar/authn/dev-keys.js';
import { tempDir } from '../../../helpers/process.js';

function readJwks(dataDir: string): { keys: JWK[] } {
  return JSON.parse(readFileSync(devJwksPath(dataDir), 'utf8')) as { keys: JWK[] };
}

describe('ensureDevKeys', () => {
  it('creates a private JWK (0600) and a public JWKS whose kid is the RFC 7638 thumbprint', async () => {
    const dir = tempDir('cedargate-devkeys-');
    try {
      const dataDir = join(dir.path, 'nested', 'data');
      const keys = await ensureDevKeys(dataDir);
      assert.equal(keys.jwksPath, devJwksPath(dataDir));
      assert.equal(devJwksPath(dataDir), join(dataDir, 'dev-jwks.json'));
      assert.equal(devSigningKeyPath(dataDir), join(dataDir, 'dev-signing-key.json'));
      assert.equal(statSync(devSigningKeyPath(dataDir)).mode & 0o777, 0o600);

      const jwks = readJwks(dataDir);
      assert.equal(jwks.keys.length, 1);
      const [pub] = jwks.keys;
      assert.ok(pub !== undefined);
      assert.equal(pub.d, undefined, 'the public JWKS must not carry the private key');
      assert.deepEqual(
        { kty: pub.kty, crv: pub.crv, alg: pub.alg, use: pub.use, kid: pub.kid },
        { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: keys.kid },
      );
      assert.equal(keys.kid, await calculateJwkThumbprint(pub, 'sha256'));

      // The private key signs what the public set verifies.
      const jwt = await new SignJWT({ a: 1 })
        .setProtectedHeader({ alg: 'ES256', kid: keys.kid })
        .sign(keys.privateKey);
      const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks));
      assert.equal(payload.a, 1);
      assert.equal(decodeProtectedHeader(jwt).kid, keys.kid);
    } finally {
      dir.remove();
    }
  });

  it('returns the same key on later calls', async () => {
    const dir = tempDir('cedargate-devkeys-');
    try {
      const first = await ensureDevKeys(dir.path);
      const before = readFileSync(devSigningKeyPath(dir.path), 'utf8');
      const second = await ensureDevKeys(dir.path);
      assert.equal(second.kid, first.kid);
      assert.equal(readFileSync(devSigningKeyPath(dir.path), 'utf8'), before);
    } finally {
      dir.remove();
    }
  });

  it('ends with one key when many callers race on a fresh directory, leaving no temp files', async () => {
    const dir = tempDir('cedargate-devkeys-');
    try {
      const results = await Promise.all(Array.from({ length: 12 }, () => ensureDevKeys(dir.path)));
      const kids = new Set(results.map((r) => r.kid));
      assert.equal(kids.size, 1);
      assert.deepEqual(
        readJwks(dir.path).keys.map((k) => k.kid),
        [...kids],
      );
      assert.deepEqual(readdirSync(dir.path).sort(), ['dev-jwks.json', 'dev-signing-key.json']);
    } finally {
      dir.remove();
    }
  });

  it('rewrites a JWKS that names another key, and recreates a missing one', async () => {
    const dir = tempDir('cedargate-devkeys-');
    try {
      const { kid } = await ensureDevKeys(dir.path);
      writeFileSync(devJwksPath(dir.path), JSON.stringify({ keys: [{ kty: 'EC', kid: 'stale' }] }));
      await ensureDevKeys(dir.path);
      assert.deepEqual(
        readJwks(dir.path).keys.map((k) => k.kid),
        [kid],
      );
      unlinkSync(devJwksPath(dir.path));
      await ensureDevKeys(dir.path);
      assert.deepEqual(
        readJwks(dir.path).keys.map((k) => k.kid),
        [kid],
      );
    } finally {
      dir.remove();
    }
  });

  it('refuses a signing key file that is not an ES256 private JWK', async () => {
    const dir = tempDir('cedargate-devkeys-');
    try {
      writeFileSync(devSigningKeyPath(dir.path), '{"kty":"oct","k":"AAAA"}');
      await assert.rejects(ensureDevKeys(dir.path), /not an ES256 private JWK/);
      writeFileSync(devSigningKeyPath(dir.path), '{');
      await assert.rejects(ensureDevKeys(dir.path), /not valid JSON/);
    } finally {
      dir.remove();
    }
  });
});
