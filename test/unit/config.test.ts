import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the contract defaults in start mode', () => {
    const c = loadConfig('start', {});
    assert.equal(c.port, 8080);
    assert.equal(c.adminPort, 9901);
    assert.equal(c.backendPort, 8081);
    assert.equal(c.backendHost, '127.0.0.1');
    assert.equal(c.upstreamUrl, 'http://127.0.0.1:8081');
    assert.equal(c.jwtIssuer, 'cedargate-dev');
    assert.equal(c.jwtAudience, 'cedargate');
    assert.equal(c.tenantClaim, 'tenant_id');
    assert.equal(c.enforce, true);
    assert.equal(c.redisUrl, undefined);
    assert.equal(c.pageMaxBytes, 4 * 1024 * 1024);
    assert.equal(loadConfig('start', { PAGE_MAX_BYTES: '65536' }).pageMaxBytes, 65536);
    assert.ok(Object.isFrozen(c));
  });

  it('derives UPSTREAM_URL from BACKEND_PORT', () => {
    assert.equal(
      loadConfig('start', { BACKEND_PORT: '9000' }).upstreamUrl,
      'http://127.0.0.1:9000',
    );
  });

  it('stops on a bad value with the variable name and an example', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ PORT: 'eighty' }, 'PORT'],
      [{ PORT: '70000' }, 'PORT'],
      [{ ENFORCE: 'maybe' }, 'ENFORCE'],
      [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
      [{ JWKS_URL: 'not a url' }, 'JWKS_URL'],
      [{ JWKS_URL: 'https://a/jwks', JWKS_FILE: '/x' }, 'JWKS_FILE'],
      [{ TRUST_SECRET: 'short' }, 'TRUST_SECRET'],
      [{ TENANT_CLAIM: 'bad claim!' }, 'TENANT_CLAIM'],
      [{ PAGE_MAX_BYTES: '4MB' }, 'PAGE_MAX_BYTES'],
      [{ PAGE_MAX_BYTES: '1024' }, 'PAGE_MAX_BYTES'],
    ];
    for (const [env, name] of cases) {
      assert.throws(
        () => loadConfig('start', env),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.variable === name &&
          e.message.startsWith(`${name}:`) &&
          /example: /.test(e.message),
        JSON.stringify(env),
      );
    }
  });

  it('sidecar refuses to start without a key source, issuer and audience', () => {
    assert.throws(
      () => loadConfig('sidecar', {}),
      (e: unknown) => e instanceof ConfigError && e.variable === 'JWKS_URL',
    );
    assert.throws(
      () => loadConfig('sidecar', { JWKS_FILE: '/k.json' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'JWT_ISSUER',
    );
    assert.throws(
      () => loadConfig('sidecar', { JWKS_FILE: '/k.json', JWT_ISSUER: 'i' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'JWT_AUDIENCE',
    );
    const ok = loadConfig('sidecar', {
      JWKS_FILE: '/k.json',
      JWT_ISSUER: 'i',
      JWT_AUDIENCE: 'a',
      ENFORCE: 'false',
    });
    assert.equal(ok.enforce, false);
  });
});
