/**
 * The generation helpers on a real redis-server: written once, rotated once however many
 * processes notice the same rollback, and one log line per change per process.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ensureGeneration,
  generationKey,
  logGenerationChange,
  newGenerationId,
  rotateGeneration,
} from '../../../src/common/store-generation.js';
import { skipWithoutRedis, suiteRedis } from '../../helpers/redis.js';
import { captureLogger } from '../../helpers/tokens.js';

describe('store generation', () => {
  it('a fresh id is 16 hex digits (it goes into a quoted ETag as it is), and random', () => {
    const a = newGenerationId();
    assert.match(a, /^[0-9a-f]{16}$/);
    assert.notEqual(a, newGenerationId());
  });

  it('logs one error line per change, whichever part of the process notices it', () => {
    const { logger, lines } = captureLogger();
    const change = { old: 'aaaa', new: `n-${randomUUID()}`, reason: 'r', component: 'users store' };
    logGenerationChange(logger, change);
    logGenerationChange(logger, { ...change, component: 'cluster' });
    logGenerationChange(logger, { ...change, new: `m-${randomUUID()}` });
    const logged = lines()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; event: string; noticedBy: string });
    assert.equal(logged.length, 2);
    assert.deepEqual(
      logged.map((l) => [l.level, l.event, l.noticedBy]),
      [
        [50, 'store_generation_changed', 'users store'],
        [50, 'store_generation_changed', 'users store'],
      ],
    );
  });
});

describe('store generation in Redis', { skip: skipWithoutRedis() }, () => {
  const r = suiteRedis();

  it('ensureGeneration writes one id and then reads it; a new one once it is gone', async () => {
    const prefix = `test-${randomUUID()}:`;
    const first = await ensureGeneration(r.raw(), prefix);
    assert.equal(await ensureGeneration(r.raw(), prefix), first);
    assert.equal(await r.raw().get(generationKey(prefix)), first);
    await r.raw().del(generationKey(prefix));
    const second = await ensureGeneration(r.raw(), prefix);
    assert.notEqual(second, first);
    assert.equal(await r.raw().get(generationKey(prefix)), second);
  });

  it('rotateGeneration replaces the stale id once: a second rotation of it gets the first result', async () => {
    const prefix = `test-${randomUUID()}:`;
    const stale = await ensureGeneration(r.raw(), prefix);
    const one = await rotateGeneration(r.raw(), stale, prefix);
    const two = await rotateGeneration(r.raw(), stale, prefix);
    assert.notEqual(one, stale);
    assert.equal(two, one);
    assert.equal(await r.raw().get(generationKey(prefix)), one);
  });
});
