/**
 * The simulated replica of bench/replicas-sim.ts: the staleness arithmetic, and that it sends
 * what a sidecar sends — probes shared by concurrent requests in next-request, none per request
 * in bounded — driven by fake connections whose replies the test releases by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createEventLog,
  createReplica,
  logIndexOf,
  readerBlockMs,
  stalenessAt,
  streamEntries,
  type ModelMode,
} from '../../../bench/replica-model.js';
import { createSamples } from '../../../bench/stats.js';

describe('stalenessAt', () => {
  const log = { sentAt: [0, 10, 20], ackAt: [1, 11, Number.NaN] };

  it('is 0 when every event acknowledged before the arrival is applied', () => {
    assert.equal(stalenessAt(log, 0, 5), 0); // event 1 acknowledged at 11, after the arrival
    assert.equal(stalenessAt(log, 1, 50), 0); // event 2 not acknowledged yet
    assert.equal(stalenessAt(log, 2, 50), 0); // nothing after the last
  });

  it('is the age, at arrival, of the oldest acknowledged event not applied', () => {
    assert.equal(stalenessAt(log, -1, 30), 29);
    assert.equal(stalenessAt(log, 0, 30), 19);
  });
});

describe('reader and entries', () => {
  it('blocks 2 s in next-request and a quarter of the bound (at least 5 ms) in bounded', () => {
    assert.equal(readerBlockMs('next-request', 100), 2_000);
    assert.equal(readerBlockMs('bounded', 100), 25);
    assert.equal(readerBlockMs('bounded', 10), 5);
  });

  it('reads XREAD replies and the log index an entry carries', () => {
    const reply = [
      [
        'k',
        [
          ['1-0', ['kind', 'user', 'version', '7']],
          ['2-0', ['kind', 'user']],
        ],
      ],
    ];
    const entries = streamEntries(reply);
    assert.deepEqual(entries, [
      ['1-0', ['kind', 'user', 'version', '7']],
      ['2-0', ['kind', 'user']],
    ]);
    assert.equal(logIndexOf(entries[0]?.[1] ?? []), 7);
    assert.equal(logIndexOf(entries[1]?.[1] ?? []), undefined);
    assert.deepEqual(streamEntries(null), []);
  });
});

/** A connection whose replies wait until the test releases them, recording what was sent. */
function fakeClient() {
  const sent: string[][] = [];
  const pending: { args: string[]; resolve: (v: unknown) => void }[] = [];
  return {
    sent,
    pending,
    sendCommand(args: string[]): Promise<unknown> {
      sent.push(args);
      return new Promise((resolve) => pending.push({ args, resolve }));
    },
    /** Answers every command waiting whose name is `name` with `reply`. */
    answer(name: string, reply: unknown): number {
      let n = 0;
      for (let i = pending.length - 1; i >= 0; i--) {
        const p = pending[i];
        if (p?.args[0] !== name) continue;
        pending.splice(i, 1);
        p.resolve(reply);
        n++;
      }
      return n;
    },
  };
}

function setup(mode: ModelMode) {
  const commands = fakeClient();
  const events = fakeClient();
  let clock = 1_000;
  const log = createEventLog();
  const sinks = {
    lagMs: createSamples(16),
    probeMs: createSamples(16),
    decisionMs: createSamples(16),
    stalenessMs: createSamples(16),
  };
  const replica = createReplica({
    mode,
    maxStalenessMs: 100,
    maxLagMs: 60_000,
    generationEveryMs: 0,
    streamKey: 'cedargate:events',
    generationKey: 'cedargate:generation',
    commands,
    events,
    log,
    sinks,
    now: () => clock,
  });
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    commands,
    events,
    log,
    sinks,
    replica,
    tick,
    advance: (ms: number) => (clock += ms),
  };
}

const xreadReply = (id: string, n: number) => [
  ['cedargate:events', [[id, ['kind', 'user', 'version', String(n)]]]],
];

describe('createReplica, next-request', () => {
  it('shares one probe among requests that arrive while it is in flight, plus one queued', async () => {
    const t = setup('next-request');
    const loop = t.replica.run();
    await t.tick();
    const requests = [t.replica.request(), t.replica.request(), t.replica.request()];
    await t.tick();
    // One probe in flight: XREVRANGE and the generation's SET NX GET, pipelined.
    assert.deepEqual(
      t.commands.sent.map((a) => a[0]),
      ['XREVRANGE', 'SET'],
    );
    assert.deepEqual(t.commands.sent[1]?.slice(3), ['NX', 'GET']);
    t.commands.answer('XREVRANGE', []);
    t.commands.answer('SET', 'gen');
    await t.tick();
    await t.tick();
    // The first request is decided; the two that came during the probe share a second one.
    assert.equal(t.replica.counts.probes, 2);
    assert.deepEqual(
      t.commands.sent.map((a) => a[0]),
      ['XREVRANGE', 'SET', 'XREVRANGE', 'SET'],
    );
    t.commands.answer('XREVRANGE', []);
    t.commands.answer('SET', 'gen');
    await Promise.all(requests);
    assert.equal(t.sinks.decisionMs.length, 3);
    assert.equal(t.replica.counts.violations, 0);
    // The reader blocks 2 s on the stream from the start.
    assert.deepEqual(t.events.sent[0], [
      ...['XREAD', 'COUNT', '500', 'BLOCK', '2000'],
      ...['STREAMS', 'cedargate:events', '0-0'],
    ]);
    t.replica.stop();
    t.events.answer('XREAD', null);
    await loop;
  });

  it('waits until the reader applied the probe’s newest event, then decides fresh', async () => {
    const t = setup('next-request');
    const loop = t.replica.run();
    await t.tick();
    t.log.sentAt.push(900);
    t.log.ackAt.push(950);
    let decided = false;
    const req = t.replica.request().then(() => (decided = true));
    await t.tick();
    t.commands.answer('XREVRANGE', [['5-0', ['kind', 'user', 'version', '0']]]);
    t.commands.answer('SET', 'gen');
    await t.tick();
    await t.tick();
    assert.equal(decided, false, 'decided before the event was applied');
    t.events.answer('XREAD', xreadReply('5-0', 0));
    await req;
    assert.equal(t.sinks.stalenessMs.sorted()[0], 0);
    assert.equal(t.sinks.lagMs.sorted()[0], 100); // applied at 1,000, XADD sent at 900
    t.replica.stop();
    t.events.answer('XREAD', null);
    await loop;
  });
});

describe('createReplica, bounded', () => {
  it('sends nothing per request while the reader is within the bound', async () => {
    const t = setup('bounded');
    const loop = t.replica.run();
    await t.tick();
    // The generation check rides with the XREAD; the block is a quarter of the bound.
    assert.deepEqual(
      t.events.sent.map((a) => a[0]),
      ['SET', 'XREAD'],
    );
    assert.equal(t.events.sent[1]?.[4], '25');
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null);
    await t.tick();
    for (let i = 0; i < 5; i++) await t.replica.request();
    assert.deepEqual(t.commands.sent, []);
    assert.equal(t.replica.counts.atOnce, 5);
    t.replica.stop();
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null);
    await loop;
  });

  it('past the bound, waits for the reader instead of deciding on what it has', async () => {
    const t = setup('bounded');
    const loop = t.replica.run();
    await t.tick();
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null);
    await t.tick();
    // The next XREAD (sent at 1,000) hangs: a stalled reader connection.
    t.advance(150);
    let decided = false;
    const req = t.replica.request().then(() => (decided = true));
    await t.tick();
    assert.equal(decided, false);
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null); // returns: but it was sent at 1,000, 150 ms before arrival
    await t.tick();
    await t.tick();
    assert.equal(decided, false, 'decided on a read sent more than the bound before the request');
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null); // sent at 1,150: within the bound
    await req;
    assert.equal(t.replica.counts.atOnce, 0);
    assert.equal(t.replica.counts.violations, 0);
    t.replica.stop();
    t.events.answer('SET', 'gen');
    t.events.answer('XREAD', null);
    await loop;
  });
});
