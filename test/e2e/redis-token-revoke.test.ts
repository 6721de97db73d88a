/**
 * `bin/cedargate token revoke` against a real Redis: what it records (keys, TTLs), what it
 * prints, and the command lines it refuses (exit 2, naming the problem).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterKeys } from '../../src/sidecar/cluster/keys.js';
import { runCli } from '../helpers/process.js';
import { skipWithoutRedis, suiteRedis } from '../helpers/redis.js';

const SUB = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';
const TENANT = 'AAAAAAAA-0000-4000-8000-000000000001';

describe('token revoke', { skip: skipWithoutRedis() }, () => {
  const rs = suiteRedis();
  const keys = clusterKeys();

  it('--jti --exp: a key that expires with the token, and one JSON line on stdout', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const r = await runCli(['token', 'revoke', '--jti', 'tok-1', '--exp', String(exp)], {
      REDIS_URL: rs.redis().url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      revoked: { kind: 'jti', jti: 'tok-1', expires_at: exp },
    });
    assert.equal(await rs.raw().get(keys.revokedJti('tok-1')), String(exp));
    assert.equal(await rs.raw().expireTime(keys.revokedJti('tok-1')), exp);
  });

  it('--jti alone: kept as long as the longest token `token` issues', async () => {
    const r = await runCli(['token', 'revoke', '--jti', 'tok-2'], { REDIS_URL: rs.redis().url });
    assert.equal(r.code, 0, r.stderr);
    const ttl = await rs.raw().ttl(keys.revokedJti('tok-2'));
    assert.ok(ttl > 364 * 24 * 3600 && ttl <= 365 * 24 * 3600, `ttl ${ttl}`);
  });

  it('--sub [--tenant]: a cut-off at now, per subject or per tenant and subject', async () => {
    const before = Math.floor(Date.now() / 1000);
    let r = await runCli(['token', 'revoke', '--sub', SUB.toLowerCase()], {
      REDIS_URL: rs.redis().url,
    });
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as {
      revoked: { sub: string; tenant: null; issued_up_to: number };
    };
    assert.equal(printed.revoked.sub, SUB);
    assert.equal(printed.revoked.tenant, null);
    assert.ok(printed.revoked.issued_up_to >= before);
    r = await runCli(['token', 'revoke', '--sub', SUB, '--tenant', TENANT], {
      REDIS_URL: rs.redis().url,
    });
    assert.equal(r.code, 0, r.stderr);
    const subjects = await rs.raw().hGetAll(keys.revokedSubjects);
    assert.deepEqual(Object.keys(subjects).sort(), [SUB, `${TENANT}/${SUB}`]);
    assert.equal(await rs.raw().ttl(keys.revokedSubjects), -1); // kept: no expiry
  });

  it('refuses bad command lines with exit 2, recording nothing', async () => {
    const env = { REDIS_URL: rs.redis().url };
    const cases: Array<[string[], RegExp]> = [
      [[], /exactly one of --jti or --sub/],
      [['--jti', 'a', '--sub', SUB], /exactly one of --jti or --sub/],
      [['--jti', 'has space'], /--jti must be/],
      [['--jti', 'a', '--exp', '12'], /--exp must be/],
      [['--jti', 'a', '--exp', 'soon'], /--exp must be/],
      [['--jti', 'a', '--tenant', TENANT], /--tenant goes with --sub/],
      [['--sub', 'nobody'], /--sub must be a UUID-shaped id/],
      [['--sub', SUB, '--exp', '9999999999'], /--exp goes with --jti/],
      [['--sub', SUB, '--tenant', '../x'], /--tenant must be a UUID-shaped id/],
      [['--jti', 'a', 'extra'], /unexpected argument/],
      [['--what'], /unknown flag --what/],
    ];
    const keysBefore = await rs.raw().dbSize();
    for (const [args, message] of cases) {
      const r = await runCli(['token', 'revoke', ...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /usage: cedargate token revoke/);
      assert.equal(r.stdout, '');
    }
    assert.equal(await rs.raw().dbSize(), keysBefore);
  });

  it('without REDIS_URL says that revocation needs it (exit 2)', async () => {
    const r = await runCli(['token', 'revoke', '--jti', 'x'], { REDIS_URL: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /requires REDIS_URL/);
  });
});
