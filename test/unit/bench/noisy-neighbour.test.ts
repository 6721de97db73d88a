/**
 * The bench's noisy-neighbour scenario, small (a second per phase, a few users and tokens): it
 * measures the victim alone and under each of the three floods, the victim is always answered,
 * the noisy tenant's answers are counted, and the table states the 3× target.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NOISY_TARGET_RATIO,
  measureNoisyNeighbour,
  renderNoisyNeighbour,
} from '../../../bench/noisy-neighbour.js';

describe('bench: noisy-neighbour (smoke)', { timeout: 240_000 }, () => {
  it('measures the victim alone and under each flood, and renders the 3× target', async () => {
    const r = await measureNoisyNeighbour({
      durationSeconds: 1,
      users: 40,
      coldTokens: 400,
      log: () => undefined,
    });
    assert.deepEqual(
      r.floods.map((f) => f.flood),
      ['cold tokens', 'permissions (20 roles)', 'plain GETs'],
    );
    for (const f of r.floods) {
      assert.equal(
        f.alone.non2xx,
        0,
        `${f.flood}: the victim alone ${JSON.stringify(f.alone.statusCodes)}`,
      );
      assert.equal(
        f.flooded.non2xx,
        0,
        `${f.flood}: the victim ${JSON.stringify(f.flooded.statusCodes)}`,
      );
      assert.ok(f.alone.latencyMs.p50 > 0 && f.flooded.latencyMs.p50 > 0);
      assert.ok(Number.isFinite(f.ratio) && f.ratio > 0);
      const noisy = Object.entries(f.noisyStatuses);
      assert.ok(noisy.length > 0, `${f.flood}: the flood sent nothing`);
      // Only answers, or 503 past the noisy tenant's queue: never an error of the sidecar.
      for (const [status] of noisy)
        assert.ok(['200', '503'].includes(status), `${f.flood}: ${status}`);
    }
    const table = renderNoisyNeighbour(r);
    assert.match(table, /### noisy-neighbour/);
    assert.match(table, new RegExp(`within ${NOISY_TARGET_RATIO}×`));
    assert.equal(table.split('\n').filter((l) => /^\| (cold|permissions|plain)/.test(l)).length, 3);
  });
});
