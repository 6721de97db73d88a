import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { createTalliedHistogram } from '../../../src/sidecar/tallied-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
// On a bound, between bounds, below the first and past the last.
const OBSERVED: [Record<string, string>, number][] = [
  [{ action: 'users:read', decision: 'allow', status: '200' }, 0.0003],
  [{ action: 'users:read', decision: 'allow', status: '200' }, 0.001],
  [{ action: 'users:read', decision: 'allow', status: '200' }, 0.0042],
  [{ action: 'users:update', decision: 'deny', status: '403' }, 7.5],
  [{ action: 'users:read', decision: 'allow', status: '200' }, 0.25],
  [{ action: 'users:update', decision: 'deny', status: '403' }, 0.0005],
];

describe('tallied histogram', () => {
  it("renders, in text and in JSON, exactly what prom-client's Histogram renders for the same observations", async () => {
    const theirs = new Registry();
    const reference = new Histogram({
      name: 'h_seconds',
      help: 'help text',
      labelNames: ['action', 'decision', 'status'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const ours = new Registry();
    const tallied = createTalliedHistogram({
      name: 'h_seconds',
      help: 'help text',
      buckets: BUCKETS,
      registry: ours,
    });
    const tallies = new Map<string, ReturnType<typeof tallied.tally>>();
    for (const [labels, value] of OBSERVED) {
      reference.labels(labels).observe(value);
      const key = JSON.stringify(labels);
      const t = tallies.get(key) ?? tallied.tally(labels);
      tallies.set(key, t);
      t.observe(value);
    }
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(
      text,
      /h_seconds_bucket\{le="0.001",action="users:read",decision="allow",status="200"\} 2/,
    );
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  });

  it('shows no label set before its first observation, nor after a reset', async () => {
    const registry = new Registry();
    const h = createTalliedHistogram({ name: 'h', help: 'h', buckets: [1], registry });
    const t = h.tally({ a: 'x' });
    assert.doesNotMatch(await registry.metrics(), /h_count/);
    t.observe(2);
    assert.match(
      await registry.metrics(),
      /h_bucket\{le="1",a="x"\} 0\nh_bucket\{le="\+Inf",a="x"\} 1/,
    );
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /h_count/);
  });
});
