/**
 * A real redis-server for tests, on a free loopback port. Without redis-server a test file skips
 * itself with a loud notice naming the install command — except under CI=true, where a missing
 * redis-server fails the file (scripts/run-tests.mjs already refuses to start then), so CI can
 * never skip the Redis tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createClient } from 'redis';
import { freePort, waitFor } from './net.js';

export const REDIS_INSTALL_COMMAND = 'sudo apt-get install -y redis-server';

export interface RunningRedis {
  url: string;
  port: number;
  /** SIGTERM, waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the SAME port (stopping it first if it still runs); resolves when it answers. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /**
   * Keep data in this directory with an fsync-always append-only file, so a kill and restart
   * keeps every acknowledged write (as a production Redis holding the users store should).
   * Default: nothing kept (`--save '' --appendonly no`).
   */
  persistDir?: string;
  /** More redis-server arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: string[];
  /** Start as a replica of the redis-server on this loopback port (`--replicaof`). */
  replicaOf?: number;
}

/** Whether a redis-server binary is on the PATH. */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * For `describe(name, { skip: skipWithoutRedis() }, ...)`: false when redis-server is there;
 * otherwise a skip reason, printed loudly — or, under CI=true, an exception that fails the file.
 */
export function skipWithoutRedis(): false | string {
  if (redisAvailable()) return false;
  return skipLoudly(
    `redis-server not found: Redis tests SKIPPED. Install it with: ${REDIS_INSTALL_COMMAND}`,
  );
}

/**
 * The skip reason `message` (which says SKIPPED), framed in stars on stderr so nobody misses it;
 * under CI=true, an exception instead: CI must never skip the Redis tests.
 */
function skipLoudly(message: string): string {
  if (process.env.CI === 'true') {
    throw new Error(
      `CI=true and ${message.replace('SKIPPED', 'cannot run')}; CI must not skip them`,
    );
  }
  const stars = '*'.repeat(message.length + 8);
  process.stderr.write(`\n${stars}\n*** ${message} ***\n${stars}\n\n`);
  return message;
}

/** Starts redis-server on a free port and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--loglevel',
    'warning',
  ];
  if (options.persistDir === undefined) args.push('--appendonly', 'no');
  else args.push('--dir', options.persistDir, '--appendonly', 'yes', '--appendfsync', 'always');
  args.push(...(options.args ?? []));
  // A replica loads the master's snapshot from the socket, not through a dump.rdb in the cwd —
  // also one that the sentinels turn into a replica after a restart.
  args.push('--repl-diskless-load', 'on-empty-db');
  if (options.replicaOf !== undefined)
    args.push('--replicaof', '127.0.0.1', String(options.replicaOf));

  let child: ChildProcess | undefined;
  let output = '';
  // A test process that dies early must not leave a redis-server behind.
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };

  async function launch(): Promise<void> {
    process.off('exit', killOnExit);
    process.once('exit', killOnExit);
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
        return answersPing(port);
      },
      10_000,
      `redis-server on port ${port}\n${output}`,
    );
  }

  async function end(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  }

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await end('SIGTERM');
      process.off('exit', killOnExit);
    },
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM');
      await launch();
    },
  };
}

/** One raw PING over TCP: no client library, no reconnect logic to hide a dead server. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * A TCP hop in front of a Redis that can cut the connections of one client by the name it gives
 * itself (`CLIENT SETNAME`, sent in node-redis's handshake) and keep refusing that name until
 * `restore` — so a test can take one of a process's Redis connections away while the others stay.
 */
export interface RedisCutter {
  url: string;
  /** Destroys every connection named `name` now, and each new one as soon as it names itself. */
  cut(name: string): void;
  restore(name: string): void;
  /**
   * Holds every byte to and from the connections named `name` (now and later ones) until
   * `resume`: the connection stays open and silent, as behind a stalled network path.
   */
  stall(name: string): void;
  resume(name: string): void;
  /** `ip:port` as Redis sees the connections named `name` (for `CLIENT KILL ADDR`). */
  addressesOf(name: string): string[];
  /** Connections open now, by the name they gave (unnamed ones under ''). */
  open(): Record<string, number>;
  close(): Promise<void>;
}

export async function startRedisCutter(redisPort: number): Promise<RedisCutter> {
  const { createServer } = await import('node:net');
  const cutNames = new Set<string>();
  const stalledNames = new Set<string>();
  interface Conn {
    name: string;
    destroy(): void;
    /** Bytes held while stalled, in order, with where each goes. */
    held: { to: 'upstream' | 'client'; data: Buffer }[];
    flush(): void;
    upstreamAddress(): string;
  }
  const conns = new Set<Conn>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: redisPort });
    const conn: Conn = {
      name: '',
      destroy: () => {
        client.destroy();
        upstream.destroy();
      },
      held: [],
      flush() {
        for (const h of conn.held.splice(0)) (h.to === 'client' ? client : upstream).write(h.data);
      },
      upstreamAddress: () => `${upstream.localAddress ?? ''}:${upstream.localPort ?? ''}`,
    };
    conns.add(conn);
    let head = '';
    const pass = (to: 'upstream' | 'client', data: Buffer): void => {
      if (stalledNames.has(conn.name)) conn.held.push({ to, data });
      else (to === 'client' ? client : upstream).write(data);
    };
    client.on('data', (d: Buffer) => {
      if (conn.name === '' && head.length < 4096) {
        head += d.toString('latin1');
        // RESP: ... $7\r\nSETNAME\r\n$<n>\r\n<name>\r\n (HELLO ... SETNAME <name> alike)
        const m = /SETNAME\r\n\$\d+\r\n([^\r]*)\r\n/i.exec(head);
        if (m?.[1] !== undefined) conn.name = m[1];
      }
      if (cutNames.has(conn.name)) return conn.destroy();
      pass('upstream', d);
    });
    upstream.on('data', (d: Buffer) => pass('client', d));
    const end = (): void => {
      conns.delete(conn);
      conn.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cut(name) {
      cutNames.add(name);
      for (const c of conns) if (c.name === name) c.destroy();
    },
    restore: (name) => void cutNames.delete(name),
    stall: (name) => void stalledNames.add(name),
    resume(name) {
      stalledNames.delete(name);
      for (const c of conns) if (c.name === name) c.flush();
    },
    addressesOf: (name) =>
      [...conns].filter((c) => c.name === name).map((c) => c.upstreamAddress()),
    open() {
      const out: Record<string, number> = {};
      for (const c of conns) out[c.name] = (out[c.name] ?? 0) + 1;
      return out;
    },
    async close() {
      for (const c of conns) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const SENTINEL_INSTALL_COMMAND = 'sudo apt-get install -y redis-sentinel';

/** Whether redis-server and redis-sentinel are both on the PATH. */
export function sentinelAvailable(): boolean {
  return (
    redisAvailable() && spawnSync('redis-sentinel', ['--version'], { stdio: 'ignore' }).status === 0
  );
}

/** As `skipWithoutRedis`, for tests that also need redis-sentinel (fails under CI=true). */
export function skipWithoutSentinel(): false | string {
  const noRedis = skipWithoutRedis();
  if (noRedis !== false) return noRedis;
  if (sentinelAvailable()) return false;
  return skipLoudly(
    `redis-sentinel not found: Sentinel tests SKIPPED. Install it with: ${SENTINEL_INSTALL_COMMAND}`,
  );
}

export interface RunningSentinels {
  /** `host:port,…`, for REDIS_SENTINELS. */
  addresses: string;
  ports: number[];
  /** The port of the master the sentinels currently name. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `count` redis-sentinel processes on free loopback ports monitoring the master on `masterPort`
 * as `name` (quorum: a majority), with a 1 s down-after and a 5 s failover timeout. Resolves
 * once every sentinel has found the others and at least one replica: before that a failover
 * could not be agreed.
 */
export async function startSentinels(
  masterPort: number,
  name: string,
  count = 3,
): Promise<RunningSentinels> {
  const dir = mkdtempSync(join(tmpdir(), 'cedargate-sentinel-'));
  const quorum = Math.floor(count / 2) + 1;
  const children: ChildProcess[] = [];
  const killOnExit = (): void => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const ports: number[] = [];
  let output = '';
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    ports.push(port);
    const file = join(dir, `sentinel-${i}.conf`);
    // The sentinel rewrites its own config file (what it learns): each gets a writable one.
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'loglevel warning',
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const proc = spawn('redis-sentinel', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    children.push(proc);
  }
  const ask = async <T>(port: number, args: string[]): Promise<T> => {
    const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await c.sendCommand<T>(args);
    } finally {
      c.destroy();
    }
  };
  await waitFor(
    async () => {
      for (const port of ports) {
        try {
          const others = await ask<unknown[]>(port, ['SENTINEL', 'SENTINELS', name]);
          const replicas = await ask<unknown[]>(port, ['SENTINEL', 'REPLICAS', name]);
          if (others.length < count - 1 || replicas.length < 1) return false;
        } catch {
          return false;
        }
      }
      return true;
    },
    30_000,
    `redis-sentinel x${count} discovering each other\n${output}`,
  );
  return {
    addresses: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    async masterPort() {
      const [, port] = await ask<[string, string]>(ports[0] as number, [
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        name,
      ]);
      return Number(port);
    },
    async stop() {
      await Promise.all(
        children.map(async (proc) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
          proc.kill('SIGTERM');
          await exited;
        }),
      );
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plain client of the Redis on `port` for one question; closed whatever `fn` does. */
export async function withRedisClient<T>(
  port: number,
  fn: (c: ReturnType<typeof createClient>) => Promise<T>,
): Promise<T> {
  const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    c.destroy();
  }
}

/**
 * `fn` on a redis-server of its own (for one test that kills or counts it, apart from the
 * suite's), stopped afterwards whatever happened.
 */
export async function withOwnRedis<T>(
  fn: (own: RunningRedis) => Promise<T>,
  options: StartRedisOptions = {},
): Promise<T> {
  const own = await startRedis(options);
  try {
    return await fn(own);
  } finally {
    await own.stop();
  }
}

/**
 * A Redis for the enclosing suite, with one connected client of its own: started in `before`,
 * stopped in `after` (register it inside the `describe`).
 */
export function suiteRedis(): { redis(): RunningRedis; raw(): ReturnType<typeof createClient> } {
  let redis: RunningRedis | undefined;
  let raw: ReturnType<typeof createClient> | undefined;
  before(async () => {
    redis = await startRedis();
    raw = createClient({ url: redis.url });
    await raw.connect();
  });
  after(async () => {
    await raw?.close();
    await redis?.stop();
  });
  const must = <V>(v: V | undefined): V => {
    if (v === undefined) throw new Error('the suite Redis is used before its before() ran');
    return v;
  };
  return { redis: () => must(redis), raw: () => must(raw) };
}

/** How many WAIT commands the redis-server on `port` has run (`INFO commandstats`). */
export async function waitCalls(port: number): Promise<number> {
  const stats = await withRedisClient(port, (c) => c.info('commandstats'));
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** Whether the replica on `port` has its link to the master up (`master_link_status:up`). */
export async function replicationLinkUp(port: number): Promise<boolean> {
  try {
    return await withRedisClient(port, async (c) =>
      /master_link_status:up/.test(await c.info('replication')),
    );
  } catch {
    return false;
  }
}

/**
 * Cuts the replication link of the master on `masterPort` and keeps it cut, while both processes
 * keep answering everyone else (the sentinels, cedargate): the master's replicas are
 * disconnected (`CLIENT KILL TYPE replica`) and cannot sync again, for the master refuses
 * `PSYNC`/`SYNC` to them (an ACL). Its writes then reach no replica: `WAIT` answers 0. The cut
 * lasts as long as that master process (a restart forgets the ACL).
 */
export async function cutReplication(masterPort: number): Promise<void> {
  await withRedisClient(masterPort, async (c) => {
    await c.sendCommand(['ACL', 'SETUSER', 'default', '-psync', '-sync']);
    await c.sendCommand(['CLIENT', 'KILL', 'TYPE', 'replica']);
  });
}
