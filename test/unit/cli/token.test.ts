/**
 * `bin/cedargate token` as a real process: one JWT on stdout and nothing else, verifiable with
 * the development JWKS; usage errors exit 2; racing first runs agree on one key.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { createCredentialVerifier } from '../../../src/sidecar/authn/verifier.js';
import { runCli, tempDir } from '../../helpers/process.js';

const TENANT = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';
const USER = '7D0C7A8E-52F1-4B59-9A43-0F6E8D2B1C11';
const JWT_LINE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/;

/** Pins the configuration the command reads, whatever the developer's shell exports. */
function envFor(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    JWT_ISSUER: '',
    JWT_AUDIENCE: '',
    TENANT_CLAIM: '',
    REDIS_URL: '',
    JWKS_URL: '',
    JWKS_FILE: '',
    ...extra,
  };
}

async function devVerifier(
  dataDir: string,
  overrides: { issuer?: string; audience?: string; tenantClaim?: string } = {},
) {
  return createCredentialVerifier({
    keys: { kind: 'dev', dataDir },
    issuer: overrides.issuer ?? 'cedargate-dev',
    audience: overrides.audience ?? 'cedargate',
    tenantClaim: overrides.tenantClaim ?? 'tenant_id',
    clockToleranceSeconds: 5,
    logger: pino({ level: 'silent' }),
  });
}

describe('cedargate token', () => {
  const dirs: { remove(): void }[] = [];
  const fresh = () => {
    const d = tempDir('cedargate-token-cli-');
    dirs.push(d);
    return join(d.path, 'data');
  };
  after(() => dirs.forEach((d) => d.remove()));

  it('prints exactly one JWT that the development JWKS verifies, with the default ttl', async () => {
    const dataDir = fresh();
    const { code, stdout, stderr } = await runCli(
      ['token', '--tenant', TENANT, '--sub', USER],
      envFor(dataDir),
    );
    assert.equal(stderr, '');
    assert.equal(code, 0);
    assert.match(stdout, JWT_LINE);
    const cred = await (await devVerifier(dataDir)).verify(`Bearer ${stdout.trim()}`);
    assert.equal(cred.tenantId, TENANT);
    assert.equal(cred.subject, USER);
    assert.equal(cred.expiresAt - (cred.issuedAt ?? 0), 3600);
    assert.equal(statSync(join(dataDir, 'dev-signing-key.json')).mode & 0o777, 0o600);
  });

  it('honours --ttl and the issuer, audience and tenant claim from the environment', async () => {
    const dataDir = fresh();
    const env = envFor(dataDir, {
      JWT_ISSUER: 'https://id.test/',
      JWT_AUDIENCE: 'users',
      TENANT_CLAIM: 'org_id',
    });
    const { code, stdout } = await runCli(
      ['token', '--sub', USER.toLowerCase(), '--tenant', TENANT.toLowerCase(), '--ttl', '60'],
      env,
    );
    assert.equal(code, 0);
    const verifier = await devVerifier(dataDir, {
      issuer: 'https://id.test/',
      audience: 'users',
      tenantClaim: 'org_id',
    });
    const cred = await verifier.verify(`Bearer ${stdout.trim()}`);
    // Ids are written in their canonical (upper-case) form, as `tenant create` prints them.
    assert.equal(cred.claims.org_id, TENANT);
    assert.equal(cred.claims.sub, USER);
    assert.equal(cred.expiresAt - (cred.issuedAt ?? 0), 60);
  });

  const bad: [string, string[], RegExp][] = [
    ['no flags', [], /missing --tenant/],
    ['a missing --sub', ['--tenant', TENANT], /missing --sub/],
    [
      'a tenant that is not an id',
      ['--tenant', 'acme', '--sub', USER],
      /--tenant must be a UUID-shaped id/,
    ],
    [
      'a sub with traversal',
      ['--tenant', TENANT, '--sub', '../x'],
      /--sub must be a UUID-shaped id/,
    ],
    [
      'a ttl that is not a number',
      ['--tenant', TENANT, '--sub', USER, '--ttl', 'soon'],
      /--ttl must be a whole number/,
    ],
    [
      'a ttl of zero',
      ['--tenant', TENANT, '--sub', USER, '--ttl', '0'],
      /--ttl must be a whole number/,
    ],
    [
      'a ttl over a year',
      ['--tenant', TENANT, '--sub', USER, '--ttl', '999999999'],
      /--ttl must be a whole number/,
    ],
    ['an unknown flag', ['--tenant', TENANT, '--sub', USER, '--admin'], /unknown flag --admin/],
    [
      'a stray argument',
      ['--tenant', TENANT, '--sub', USER, 'extra'],
      /unexpected argument "extra"/,
    ],
  ];
  for (const [name, args, message] of bad) {
    it(`exits 2 with a clear line on stderr for ${name}`, async () => {
      const dataDir = fresh();
      const { code, stdout, stderr } = await runCli(['token', ...args], envFor(dataDir));
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, /^cedargate token: /);
      assert.match(stderr, message);
      assert.match(stderr, /usage: cedargate token --tenant/);
    });
  }

  it('answers `token revoke` without REDIS_URL with what it needs, exit 2', async () => {
    const { code, stdout, stderr } = await runCli(
      ['token', 'revoke', '--jti', 'x'],
      envFor(fresh()),
    );
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /token revoke requires REDIS_URL/);
  });

  it('two first runs racing on a fresh DATA_DIR sign with one key', async () => {
    const dataDir = fresh();
    const runs = await Promise.all(
      [0, 1, 2].map(() => runCli(['token', '--tenant', TENANT, '--sub', USER], envFor(dataDir))),
    );
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, JWT_LINE);
    }
    const jwks = JSON.parse(readFileSync(join(dataDir, 'dev-jwks.json'), 'utf8')) as {
      keys: unknown[];
    };
    assert.equal(jwks.keys.length, 1);
    const verifier = await devVerifier(dataDir);
    for (const run of runs) {
      assert.equal((await verifier.verify(`Bearer ${run.stdout.trim()}`)).subject, USER);
    }
  });
});
