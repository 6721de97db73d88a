/**
 * Which EVENT_CONSISTENCY modes `npm run bench -- --store redis` runs: asked of the build's
 * config, never assumed; and a smoke run of the whole thing on a real redis-server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { consistencySupport, type RedisStoreResults } from '../../../bench/redis-store.js';
import { ConfigError } from '../../../src/config.js';
import { runBench } from '../../helpers/process.js';
import { skipWithoutRedis } from '../../helpers/redis.js';

describe('consistencySupport', () => {
  it('runs a mode the config takes, under its own name', () => {
    const load = (env: Record<string, string>) => ({ eventConsistency: env.EVENT_CONSISTENCY });
    assert.deepEqual(consistencySupport('bounded', load), {
      mode: 'bounded',
      supported: true,
      note: 'EVENT_CONSISTENCY=bounded',
    });
  });

  it('skips a mode the config refuses, quoting the refusal', () => {
    const load = (): object => {
      throw new ConfigError('EVENT_CONSISTENCY', 'must be next-request', 'next-request');
    };
    const s = consistencySupport('bounded', load);
    assert.equal(s.supported, false);
    assert.match(s.note, /refuses EVENT_CONSISTENCY=bounded: .*EVENT_CONSISTENCY/);
  });

  it('on a build that ignores the variable: next-request is its built-in check, bounded is skipped', () => {
    const load = () => ({ eventCheckEachRequest: true });
    const next = consistencySupport('next-request', load);
    assert.equal(next.supported, true);
    assert.match(next.note, /has no EVENT_CONSISTENCY/);
    const bounded = consistencySupport('bounded', load);
    assert.equal(bounded.supported, false);
    assert.match(bounded.note, /ignores EVENT_CONSISTENCY.*bounded skipped/);
  });

  it('never claims this build runs bounded unless its config keeps the value', () => {
    const s = consistencySupport('bounded');
    if (s.supported) assert.equal(s.note, 'EVENT_CONSISTENCY=bounded');
    else assert.match(s.note, /ignores|refuses/);
    assert.equal(consistencySupport('next-request').supported, true);
  });
});

describe('npm run bench -- --store redis --consistency bounded, on a build without it', () => {
  it(
    'exits 1 saying why, without starting anything',
    { skip: consistencySupport('bounded').supported && 'this build has the bounded mode' },
    async () => {
      const run = await runBench(['--store', 'redis', '--consistency', 'bounded']);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /--store redis measured nothing:\n.*bounded: this build (ignores|refuses)/,
      );
      assert.doesNotMatch(run.stderr, /seeding|\n {4}at /);
    },
  );
});

describe(
  'npm run bench -- --store redis (smoke)',
  { timeout: 180_000, skip: skipWithoutRedis() },
  () => {
    const out = mkdtempSync(join(tmpdir(), 'cedargate-bench-redis-'));
    let code: number | null = null;
    let stdout = '';
    let stderr = '';
    let results: RedisStoreResults;

    before(async () => {
      const args = ['--store', 'redis', '--replicas', '2', '--users', '40', '--scenarios', 'get'];
      args.push('--duration', '1', '--warmup', '0', '--connections', '4', '--out-dir', out);
      ({ code, stdout, stderr } = await runBench(args));
      const files = readdirSync(out).filter((f) => f.endsWith('-redis.json'));
      assert.equal(code, 0, stderr);
      assert.equal(files.length, 1, files.join(', '));
      results = JSON.parse(
        readFileSync(join(out, files[0] as string), 'utf8'),
      ) as RedisStoreResults;
    });
    after(() => rmSync(out, { recursive: true, force: true }));

    it('measures next-request with Redis’s own counters, the probe among the sidecar’s commands', () => {
      const mode = results.modes.find((m) => m.mode === 'next-request');
      assert.ok(mode !== undefined && mode.skipped === undefined, JSON.stringify(mode));
      const get = mode.scenarios[0];
      assert.equal(get?.name, 'get');
      assert.equal(get.sidecar.non2xx, 0, JSON.stringify(get.sidecar.statusCodes));
      const redis = get.redis;
      assert.ok(redis !== undefined);
      // Through the sidecars each request probes (shared by concurrent ones): XREVRANGE is there.
      assert.ok((redis.sidecar.perCommand.xrevrange ?? 0) > 0, JSON.stringify(redis.sidecar));
      // Directly, the backend reads the user from Redis: at least one command per request.
      assert.ok(redis.direct.commandsPerRequest.backend >= 1, JSON.stringify(redis.direct));
      assert.ok(redis.sidecar.cpuMsPer1000Requests > 0);
      assert.match(stdout, /#### EVENT_CONSISTENCY=next-request/);
    });

    it('says for each mode it did not measure why', () => {
      for (const m of results.modes.filter((x) => x.skipped !== undefined)) {
        assert.match(stderr, new RegExp(`--store redis: .*${m.mode}`));
        assert.match(stdout, new RegExp(`EVENT_CONSISTENCY=${m.mode}\\n\\nNot measured: `));
      }
    });
  },
);
