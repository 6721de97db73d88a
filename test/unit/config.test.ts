import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { describeRedisUrl, parseSentinelTargetUrl } from '../../src/common/redis-connection.js';

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

  it('bounds request bodies in time and in total: a few seconds, 64 MiB, never past the request timeout', () => {
    const c = loadConfig('start', {});
    assert.equal(c.bodyTimeoutMs, 5000);
    assert.equal(c.bodyBudgetBytes, 64 * 1024 * 1024);
    assert.equal(
      loadConfig('start', { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' }).bodyTimeoutMs,
      2000,
    );
    const set = loadConfig('start', { BODY_TIMEOUT_MS: '1500', BODY_BUDGET_BYTES: '2097152' });
    assert.equal(set.bodyTimeoutMs, 1500);
    assert.equal(set.bodyBudgetBytes, 2097152);
  });

  it("bounds the backend's store work below the sidecar's upstream timeout: 4000 of 5000 by default", () => {
    const c = loadConfig('start', {});
    assert.deepEqual([c.upstreamTimeoutMs, c.storeTimeoutMs], [5000, 4000]);
    // A fifth under a lower upstream timeout, a second under a higher one.
    assert.equal(loadConfig('start', { UPSTREAM_TIMEOUT_MS: '800' }).storeTimeoutMs, 640);
    assert.equal(loadConfig('start', { UPSTREAM_TIMEOUT_MS: '15000' }).storeTimeoutMs, 14000);
    assert.equal(loadConfig('start', { STORE_TIMEOUT_MS: '2500' }).storeTimeoutMs, 2500);
    // A backend alone may be told a longer one (its sidecar's env is not its own).
    assert.equal(loadConfig('backend', { STORE_TIMEOUT_MS: '6000' }).storeTimeoutMs, 6000);
  });

  it('schedules uncached work fairly across tenants: 4 at once, 64 waiting per tenant, as FAIR_* say', () => {
    const c = loadConfig('start', {});
    assert.equal(c.fairConcurrency, 4);
    assert.equal(c.fairQueueMax, 64);
    const set = loadConfig('start', { FAIR_CONCURRENCY: '8', FAIR_QUEUE_MAX: '16' });
    assert.equal(set.fairConcurrency, 8);
    assert.equal(set.fairQueueMax, 16);
  });

  it('serves the playground only when PLAYGROUND=true asks for it, in start too', () => {
    assert.equal(loadConfig('start', {}).playground, false);
    assert.equal(loadConfig('start', { PLAYGROUND: 'true' }).playground, true);
    assert.equal(loadConfig('start', { PLAYGROUND: 'false' }).playground, false);
    const sidecarEnv = { JWKS_FILE: '/x', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' };
    assert.equal(loadConfig('sidecar', sidecarEnv).playground, false);
    assert.equal(loadConfig('sidecar', { ...sidecarEnv, PLAYGROUND: 'true' }).playground, true);
  });

  it('change events: defaults, and each can be set', () => {
    const d = loadConfig('start', {});
    assert.equal(d.eventStreamMaxLen, 100_000);
    assert.equal(d.eventMaxLagMs, 2_000);
    assert.equal(d.eventCheckEachRequest, true);
    const c = loadConfig('start', {
      EVENT_STREAM_MAXLEN: '5000',
      EVENT_MAX_LAG_MS: '250',
      EVENT_CHECK_EACH_REQUEST: 'false',
    });
    assert.deepEqual(
      [c.eventStreamMaxLen, c.eventMaxLagMs, c.eventCheckEachRequest],
      [5000, 250, false],
    );
  });

  it('event consistency: next-request by default, bounded with its bound', () => {
    const d = loadConfig('start', {});
    assert.deepEqual([d.eventConsistency, d.eventMaxStalenessMs], ['next-request', 100]);
    const b = loadConfig('start', { EVENT_CONSISTENCY: 'bounded', EVENT_MAX_STALENESS_MS: '40' });
    assert.deepEqual([b.eventConsistency, b.eventMaxStalenessMs], ['bounded', 40]);
  });

  it('turns REDIS_SENTINELS and REDIS_SENTINEL_NAME into a Sentinel target', () => {
    const c = loadConfig('start', {
      REDIS_SENTINELS: '127.0.0.1:26379, sentinel-2:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'mymaster',
    });
    assert.deepEqual(parseSentinelTargetUrl(c.redisUrl ?? ''), {
      name: 'mymaster',
      nodes: [
        { host: '127.0.0.1', port: 26379 },
        { host: 'sentinel-2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
    });
    assert.equal(
      describeRedisUrl(c.redisUrl ?? ''),
      'Sentinel master "mymaster" via 127.0.0.1:26379,sentinel-2:26380,::1:26381',
    );
  });

  it('DECISION_CROSSCHECK_RATE: 1 in 1,000 by default, 0 turns it off, 1 checks every decision', () => {
    assert.equal(loadConfig('start', {}).decisionCrosscheckRate, 0.001);
    assert.equal(loadConfig('start', { DECISION_CROSSCHECK_RATE: '0' }).decisionCrosscheckRate, 0);
    assert.equal(loadConfig('start', { DECISION_CROSSCHECK_RATE: '1' }).decisionCrosscheckRate, 1);
    assert.equal(
      loadConfig('start', { DECISION_CROSSCHECK_RATE: '0.05' }).decisionCrosscheckRate,
      0.05,
    );
  });

  it("DEFAULT_DENY_NOTICE: a generic sentence by default, the operator's words when set", () => {
    const dflt = 'No policy allows this action for your roles.';
    assert.equal(loadConfig('start', {}).defaultDenyNotice, dflt);
    assert.equal(loadConfig('start', { DEFAULT_DENY_NOTICE: '  ' }).defaultDenyNotice, dflt);
    assert.equal(
      loadConfig('start', { DEFAULT_DENY_NOTICE: ' Ask your tenant admin. ' }).defaultDenyNotice,
      'Ask your tenant admin.',
    );
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
      [{ PLAYGROUND: 'sometimes' }, 'PLAYGROUND'],
      [{ DEFAULT_DENY_NOTICE: 'x'.repeat(501) }, 'DEFAULT_DENY_NOTICE'],
      [{ DEFAULT_DENY_NOTICE: 'two\nlines' }, 'DEFAULT_DENY_NOTICE'],
      [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
      [{ REDIS_SENTINELS: '127.0.0.1:26379' }, 'REDIS_SENTINEL_NAME'],
      [{ REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINELS'],
      [
        {
          REDIS_URL: 'redis://127.0.0.1:6379',
          REDIS_SENTINELS: '127.0.0.1:26379',
          REDIS_SENTINEL_NAME: 'm',
        },
        'REDIS_SENTINELS',
      ],
      [{ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
      [{ REDIS_SENTINELS: 'a:1,b:99999', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
      [{ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'my master' }, 'REDIS_SENTINEL_NAME'],
      [{ JWKS_URL: 'not a url' }, 'JWKS_URL'],
      [{ JWKS_URL: 'https://a/jwks', JWKS_FILE: '/x' }, 'JWKS_FILE'],
      [{ TRUST_SECRET: 'short' }, 'TRUST_SECRET'],
      [{ TENANT_CLAIM: 'bad claim!' }, 'TENANT_CLAIM'],
      [{ BODY_TIMEOUT_MS: 'soon' }, 'BODY_TIMEOUT_MS'],
      [{ BODY_TIMEOUT_MS: '50' }, 'BODY_TIMEOUT_MS'],
      [{ BODY_TIMEOUT_MS: '40000', REQUEST_TIMEOUT_MS: '30000' }, 'BODY_TIMEOUT_MS'],
      [{ BODY_BUDGET_BYTES: 'lots' }, 'BODY_BUDGET_BYTES'],
      [{ STORE_TIMEOUT_MS: '4s' }, 'STORE_TIMEOUT_MS'],
      [{ STORE_TIMEOUT_MS: '0' }, 'STORE_TIMEOUT_MS'],
      [{ STORE_TIMEOUT_MS: '5000' }, 'STORE_TIMEOUT_MS'],
      [{ STORE_TIMEOUT_MS: '3000', UPSTREAM_TIMEOUT_MS: '2000' }, 'STORE_TIMEOUT_MS'],
      [{ BODY_BUDGET_BYTES: '2048', BODY_LIMIT_BYTES: '4096' }, 'BODY_BUDGET_BYTES'],
      [{ FAIR_CONCURRENCY: '0' }, 'FAIR_CONCURRENCY'],
      [{ FAIR_CONCURRENCY: 'two' }, 'FAIR_CONCURRENCY'],
      [{ FAIR_QUEUE_MAX: '0' }, 'FAIR_QUEUE_MAX'],
      [{ FAIR_QUEUE_MAX: '64 steps' }, 'FAIR_QUEUE_MAX'],
      [{ PAGE_MAX_BYTES: '4MB' }, 'PAGE_MAX_BYTES'],
      [{ DECISION_CROSSCHECK_RATE: '1.5' }, 'DECISION_CROSSCHECK_RATE'],
      [{ DECISION_CROSSCHECK_RATE: '1/1000' }, 'DECISION_CROSSCHECK_RATE'],
      [{ DECISION_CROSSCHECK_RATE: '-0.1' }, 'DECISION_CROSSCHECK_RATE'],
      [{ PAGE_MAX_BYTES: '1024' }, 'PAGE_MAX_BYTES'],
      [{ EVENT_STREAM_MAXLEN: '10' }, 'EVENT_STREAM_MAXLEN'],
      [{ EVENT_STREAM_MAXLEN: 'many' }, 'EVENT_STREAM_MAXLEN'],
      [{ EVENT_MAX_LAG_MS: '2s' }, 'EVENT_MAX_LAG_MS'],
      [{ EVENT_CHECK_EACH_REQUEST: 'always' }, 'EVENT_CHECK_EACH_REQUEST'],
      [{ EVENT_CONSISTENCY: 'eventual' }, 'EVENT_CONSISTENCY'],
      [{ EVENT_CONSISTENCY: 'Bounded' }, 'EVENT_CONSISTENCY'],
      [{ EVENT_MAX_STALENESS_MS: '100ms' }, 'EVENT_MAX_STALENESS_MS'],
      [{ EVENT_MAX_STALENESS_MS: '5' }, 'EVENT_MAX_STALENESS_MS'],
      [{ EVENT_MAX_STALENESS_MS: '3000' }, 'EVENT_MAX_STALENESS_MS'],
      [{ EVENT_MAX_STALENESS_MS: '300', EVENT_MAX_LAG_MS: '200' }, 'EVENT_MAX_STALENESS_MS'],
      [
        { EVENT_CONSISTENCY: 'bounded', EVENT_CHECK_EACH_REQUEST: 'false' },
        'EVENT_CHECK_EACH_REQUEST',
      ],
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

  it('CANDIDATE_POLICY_DIR: unset by default, resolved when set, never POLICY_DIR itself', () => {
    assert.equal(loadConfig('start', {}).candidatePolicyDir, undefined);
    assert.equal(
      loadConfig('start', { CANDIDATE_POLICY_DIR: '/etc/cand' }).candidatePolicyDir,
      '/etc/cand',
    );
    assert.throws(
      () => loadConfig('start', { POLICY_DIR: '/etc/p', CANDIDATE_POLICY_DIR: '/etc/p/' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.variable === 'CANDIDATE_POLICY_DIR' &&
        /example: CANDIDATE_POLICY_DIR=/.test(e.message),
    );
  });

  it('ADMIN_HOST: loopback by default, whatever HOST says; an address when set', () => {
    assert.equal(loadConfig('start', {}).adminHost, '127.0.0.1');
    assert.equal(loadConfig('start', { HOST: '0.0.0.0' }).adminHost, '127.0.0.1');
    assert.equal(loadConfig('backend', {}).adminHost, '127.0.0.1');
    assert.equal(loadConfig('start', { ADMIN_HOST: '10.1.2.3' }).adminHost, '10.1.2.3');
    assert.equal(loadConfig('start', { ADMIN_HOST: '::1' }).adminHost, '::1');
    assert.equal(loadConfig('start', { ADMIN_HOST: 'localhost' }).adminHost, 'localhost');
    for (const bad of ['http://10.1.2.3', '10.1.2.3:9901', 'two words', '-x']) {
      assert.throws(
        () => loadConfig('start', { ADMIN_HOST: bad }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.variable === 'ADMIN_HOST' &&
          e.message.includes('example: ADMIN_HOST=127.0.0.1'),
        bad,
      );
    }
  });

  it('UPSTREAM_URL with https is refused at start: TLS to the backend is not supported', () => {
    for (const mode of ['start', 'sidecar'] as const) {
      assert.throws(
        () =>
          loadConfig(mode, {
            UPSTREAM_URL: 'https://users.internal:8443',
            JWKS_FILE: '/k.json',
            JWT_ISSUER: 'i',
            JWT_AUDIENCE: 'a',
          }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.variable === 'UPSTREAM_URL' &&
          /TLS|https/.test(e.message) &&
          e.message.includes('example: UPSTREAM_URL=http://127.0.0.1:8081'),
        mode,
      );
    }
    assert.equal(
      loadConfig('start', { UPSTREAM_URL: 'http://10.0.0.5:8081' }).upstreamUrl,
      'http://10.0.0.5:8081',
    );
  });

  it('sidecar refuses to start without a key source, issuer and audience', () => {
    assert.throws(
      () => loadConfig('sidecar', {}),
      (e: unknown) => e instanceof ConfigError && e.variable === 'JWT_ISSUER',
    );
    // An issuer that is not a URL has no discovery document: a key source is needed.
    assert.throws(
      () => loadConfig('sidecar', { JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }),
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
  it('identity (issue 23): claim paths, USER_CLAIM, JWT_TYP, ISSUERS_FILE exclusive, discovery', () => {
    const d = loadConfig('start', {});
    assert.equal(d.userClaim, 'sub');
    assert.equal(d.jwtTyp, undefined);
    assert.equal(d.issuersFile, undefined);
    for (const spec of [
      'https://example.com/tenant_id',
      '/org/id',
      '/https:~1~1e.com~1c/tenant',
      'tid',
    ]) {
      assert.equal(loadConfig('start', { TENANT_CLAIM: spec }).tenantClaim, spec);
    }
    assert.equal(loadConfig('start', { USER_CLAIM: '/ext/uid' }).userClaim, '/ext/uid');
    for (const [name, value] of [
      ['TENANT_CLAIM', '/a~2'],
      ['TENANT_CLAIM', 'tenant id'],
      ['USER_CLAIM', '/a//b'],
      ['JWT_TYP', 'at jwt'],
    ] as const) {
      assert.throws(
        () => loadConfig('start', { [name]: value }),
        (e: unknown) =>
          e instanceof ConfigError && e.variable === name && /example: /.test(e.message),
        `${name}=${value}`,
      );
    }
    assert.equal(
      loadConfig('start', { JWT_TYP: 'application/at+jwt' }).jwtTyp,
      'application/at+jwt',
    );
    // ISSUERS_FILE and any single-issuer variable: a start error naming both.
    for (const other of ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWKS_URL', 'JWKS_FILE', 'JWT_TYP']) {
      const value = other === 'JWKS_URL' ? 'https://x.example/jwks' : 'at+jwt';
      assert.throws(
        () => loadConfig('sidecar', { ISSUERS_FILE: '/etc/issuers.yaml', [other]: value }),
        (e: unknown) =>
          e instanceof ConfigError && e.variable === 'ISSUERS_FILE' && e.message.includes(other),
        other,
      );
    }
    const file = loadConfig('sidecar', { ISSUERS_FILE: 'issuers.yaml' });
    assert.ok(file.issuersFile?.endsWith('/issuers.yaml'));
    // A URL issuer needs no key source: its discovery document names the keys.
    const discovered = loadConfig('sidecar', {
      JWT_ISSUER: 'https://id.example/',
      JWT_AUDIENCE: 'a',
    });
    assert.equal(discovered.jwksUrl, undefined);
    assert.equal(discovered.jwtIssuerSet, true);
  });
});
