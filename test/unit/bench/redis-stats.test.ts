/**
 * The pure parts of the bench's Redis accounting: reading INFO commandstats / cpu, the
 * difference of two readings, whose command is whose, and the per-request arithmetic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commandOwner,
  costPerRequest,
  diffSnapshots,
  parseCommandStats,
  parseCpuSeconds,
  ratesPerSecond,
  readRedisSnapshot,
  snapshotOf,
  type RedisDelta,
} from '../../../bench/redis-stats.js';

/** An `INFO commandstats cpu` reply as Redis 7.0 writes it (CRLF line ends). */
function infoText(commands: Record<string, [number, number]>, user: number, sys: number): string {
  const lines = ['# Commandstats'];
  for (const [name, [calls, usec]] of Object.entries(commands)) {
    lines.push(
      `cmdstat_${name}:calls=${calls},usec=${usec},usec_per_call=${(usec / calls).toFixed(2)},rejected_calls=0,failed_calls=0`,
    );
  }
  lines.push(
    '',
    '# CPU',
    `used_cpu_sys:${sys.toFixed(6)}`,
    `used_cpu_user:${user.toFixed(6)}`,
    'used_cpu_sys_children:0.000000',
    'used_cpu_user_children:0.000000',
    `used_cpu_sys_main_thread:${sys.toFixed(6)}`,
    `used_cpu_user_main_thread:${user.toFixed(6)}`,
    '',
  );
  return lines.join('\r\n');
}

describe('parseCommandStats / parseCpuSeconds', () => {
  it('reads every command, subcommands included, and the CPU seconds', () => {
    const text = infoText(
      { 'xinfo|stream': [3, 39], xrevrange: [10, 50], evalsha: [7, 700] },
      1.5,
      0.25,
    );
    assert.deepEqual(parseCommandStats(text), {
      'xinfo|stream': { calls: 3, usec: 39 },
      xrevrange: { calls: 10, usec: 50 },
      evalsha: { calls: 7, usec: 700 },
    });
    assert.equal(parseCpuSeconds(text), 1.75);
  });

  it('refuses a reply without the CPU fields or with an unreadable command line', () => {
    assert.throws(() => parseCpuSeconds('# CPU\r\nused_cpu_sys:0.1\r\n'), /used_cpu_user/);
    assert.throws(
      () => parseCommandStats('cmdstat_get:calls=x,usec=1,usec_per_call=1.00'),
      /unreadable INFO commandstats line: cmdstat_get/,
    );
  });

  it('reads a snapshot through one INFO commandstats cpu', async () => {
    const sent: string[][] = [];
    const client = {
      sendCommand: async (args: string[]) => {
        sent.push(args);
        return infoText({ get: [2, 4] }, 0.5, 0.5);
      },
    };
    const snap = await readRedisSnapshot(client, () => 42);
    assert.deepEqual(sent, [['INFO', 'commandstats', 'cpu']]);
    assert.deepEqual(snap, { commands: { get: { calls: 2, usec: 4 } }, cpuSeconds: 1, atMs: 42 });
  });
});

describe('commandOwner', () => {
  it('tells the sidecar’s stream and generation commands from the store’s and the connection’s', () => {
    for (const name of ['xrevrange', 'xread', 'xinfo|stream', 'set'])
      assert.equal(commandOwner(name), 'sidecar', name);
    for (const name of ['evalsha', 'hgetall', 'zrange', 'xadd', 'hset', 'hincrby', 'get'])
      assert.equal(commandOwner(name), 'backend', name);
    for (const name of ['info', 'ping', 'client|setname', 'hello', 'command|docs'])
      assert.equal(commandOwner(name), 'connection', name);
  });
});

describe('diffSnapshots', () => {
  it('keeps only what was called in between, with its time, and the CPU and wall time', () => {
    const before = snapshotOf(infoText({ xrevrange: [10, 50], get: [5, 5] }, 1, 0), 1_000);
    const after = snapshotOf(
      infoText({ xrevrange: [610, 3050], get: [5, 5], evalsha: [1000, 9000] }, 1.04, 0.01),
      11_000,
    );
    const d = diffSnapshots(before, after);
    assert.equal(d.seconds, 10);
    assert.ok(Math.abs(d.cpuSeconds - 0.05) < 1e-9);
    assert.deepEqual(d.calls, { xrevrange: 600, evalsha: 1000 });
    assert.deepEqual(d.usec, { xrevrange: 3000, evalsha: 9000 });
  });

  it('refuses counters that went back (a restarted Redis or CONFIG RESETSTAT)', () => {
    const before = snapshotOf(infoText({ get: [5, 5] }, 1, 0), 0);
    assert.throws(
      () => diffSnapshots(before, snapshotOf(infoText({ get: [1, 1] }, 1, 0), 1)),
      /get/,
    );
    assert.throws(
      () => diffSnapshots(before, snapshotOf(infoText({ get: [5, 5] }, 0.5, 0), 1)),
      /CPU time went back/,
    );
  });
});

describe('costPerRequest', () => {
  const delta: RedisDelta = {
    seconds: 10,
    cpuSeconds: 0.05,
    calls: { xrevrange: 600, set: 600, evalsha: 1000, hset: 1000, info: 2, ping: 4 },
    usec: {},
  };

  it('spreads the commands and the CPU over the requests, by owner', () => {
    const c = costPerRequest(delta, 1000);
    assert.deepEqual(c.commandsPerRequest, {
      total: 3.2,
      sidecar: 1.2,
      backend: 2,
      connection: 0.006,
    });
    assert.equal(c.perCommand.xrevrange, 0.6);
    assert.equal(c.perCommand.evalsha, 1);
    // 0.05 s of Redis CPU over 1,000 requests: 50 ms per 1,000; over 10 s: 0.5 % of a core.
    assert.equal(c.cpuMsPer1000Requests, 50);
    assert.equal(c.cpuCores, 0.005);
    assert.deepEqual(Object.keys(c.perCommand).slice(0, 2), ['evalsha', 'hset']);
  });

  it('says NaN, not Infinity, for a run that answered nothing', () => {
    const c = costPerRequest(delta, 0);
    assert.ok(Number.isNaN(c.commandsPerRequest.total));
    assert.ok(Number.isNaN(c.cpuMsPer1000Requests));
  });

  it('gives the background rates of an idle window per second', () => {
    assert.deepEqual(ratesPerSecond(delta), {
      sidecar: 120,
      backend: 200,
      connection: 0.6,
      cpuCores: 0.005,
    });
  });
});
