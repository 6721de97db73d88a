/**
 * The system under test: a temporary DATA_DIR seeded with one tenant of N users (through the
 * store, in-process, before any server opens it: 10,000 CLI or HTTP calls would take minutes),
 * a development token for every user, then `cedargate backend` and `cedargate sidecar` as
 * separate processes on free ports, both at LOG_LEVEL=warn. With a Redis URL the users live in
 * that Redis, every process gets REDIS_URL, and there may be several sidecars (replicas).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/backend/store/index.js';
import type { User } from '../src/common/user.js';
import { publicUser } from '../src/common/user.js';
import { devJwksPath, ensureDevKeys } from '../src/sidecar/authn/dev-keys.js';
import { issueDevToken } from '../src/sidecar/authn/issue-token.js';
import { freePort } from '../test/helpers/net.js';
import { repoRoot, spawnCedargate, waitUntilHealthy, type ServerProcess } from './processes.js';

export const ISSUER = 'cedargate-dev';
export const AUDIENCE = 'cedargate';
/** Long enough for a 5-minute soak plus everything before it. */
const TOKEN_TTL_SECONDS = 4 * 3600;

/** A seeded user and the credential that names them. */
export interface SeededUser {
  user: User;
  token: string;
}

/** Everything a scenario needs to address either path. */
export interface BenchStack {
  tenantId: string;
  owner: SeededUser;
  /** The seeded users (not the owner), with roles ["user"] unless `roles` said otherwise. */
  users: readonly SeededUser[];
  /** A second tenant and its owner, when asked for (`otherTenant`). */
  other: { tenantId: string; owner: SeededUser } | undefined;
  /** A fresh token for `sub` of the bench tenant (each one a credential never seen before). */
  sign(sub: string): Promise<string>;
  trustSecret: string;
  /** The development key set the tokens verify against (for the peers of `--peers`). */
  jwksFile: string;
  backendUrl: string;
  /** The first sidecar's URL (the only one unless `replicas` > 1). */
  sidecarUrl: string;
  /** Every sidecar's URL, in order. */
  sidecarUrls: readonly string[];
  adminUrl: string;
  backend: ServerProcess;
  /** The first sidecar. */
  sidecar: ServerProcess;
  /** Every sidecar, in order (the first is `sidecar`). */
  sidecars: readonly ServerProcess[];
  /** Stops the first sidecar and starts a new one on the same ports (e.g. with `--cpu-prof`). */
  restartSidecar(nodeArgs?: readonly string[]): Promise<void>;
  /** Throws, with the process's output, when the backend or a sidecar is no longer running. */
  assertRunning(): void;
  /** The sidecars' Prometheus cache counters, summed, as `cache/result` → count. */
  cacheCounters(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Options of {@link startBenchStack}. */
export interface StackOptions {
  users: number;
  policyDir?: string;
  /** Keep the users in this Redis (REDIS_URL of every process) instead of SQLite. */
  redisUrl?: string;
  /** How many sidecars (default 1). */
  replicas?: number;
  /** More environment for every sidecar (e.g. EVENT_CONSISTENCY). */
  sidecarEnv?: Record<string, string>;
  /** The roles of seeded user `i` (default ["user"]). */
  roles?: (i: number) => string[];
  /** Also seed a second tenant with only its owner (the noisy-neighbour scenario's victim). */
  otherTenant?: boolean;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** Seeds the data, starts both processes, and resolves when both are healthy. */
export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const { log } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'cedargate-bench-'));
  const policyDir = options.policyDir ?? join(repoRoot, 'policies');
  const trustSecret = randomBytes(24).toString('hex');
  try {
    const seeded = await seed(dataDir, options, log);
    const replicas = Math.max(1, options.replicas ?? 1);
    const backendPort = await freePort();
    const ports: { port: number; adminPort: number }[] = [];
    for (let i = 0; i < replicas; i++)
      ports.push({ port: await freePort(), adminPort: await freePort() });
    const common: Record<string, string> = {
      DATA_DIR: dataDir,
      POLICY_DIR: policyDir,
      TRUST_SECRET: trustSecret,
      LOG_LEVEL: 'warn',
      ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    };
    const backendUrl = `http://127.0.0.1:${backendPort}`;
    const backend = spawnCedargate('backend', 'backend', {
      ...common,
      BACKEND_PORT: String(backendPort),
      BACKEND_HOST: '127.0.0.1',
    });
    await waitUntilHealthy(backend, `${backendUrl}/healthz`);
    const adminUrls = ports.map((p) => `http://127.0.0.1:${p.adminPort}`);
    const startSidecar = async (i: number, nodeArgs: readonly string[] = []) => {
      const { port, adminPort } = ports[i] as { port: number; adminPort: number };
      const proc = spawnCedargate(
        replicas === 1 ? 'sidecar' : `sidecar ${i + 1}`,
        'sidecar',
        {
          ...common,
          PORT: String(port),
          HOST: '127.0.0.1',
          ADMIN_PORT: String(adminPort),
          UPSTREAM_URL: backendUrl,
          JWKS_FILE: devJwksPath(dataDir),
          JWT_ISSUER: ISSUER,
          JWT_AUDIENCE: AUDIENCE,
          ...options.sidecarEnv,
        },
        nodeArgs,
      );
      try {
        await waitUntilHealthy(proc, `${adminUrls[i]}/readyz`);
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return proc;
    };
    const sidecars: ServerProcess[] = [];
    try {
      for (let i = 0; i < replicas; i++) sidecars.push(await startSidecar(i));
    } catch (err) {
      await Promise.all([...sidecars.map((p) => p.stop()), backend.stop()]);
      throw err;
    }
    log(
      `backend pid ${backend.pid} on ${backendUrl}; sidecar pid ${sidecars.map((p) => p.pid).join(', ')} on :${ports.map((p) => p.port).join(', :')}`,
    );

    const stack: BenchStack = {
      ...seeded,
      trustSecret,
      jwksFile: devJwksPath(dataDir),
      backendUrl,
      sidecarUrl: `http://127.0.0.1:${ports[0]?.port}`,
      sidecarUrls: ports.map((p) => `http://127.0.0.1:${p.port}`),
      adminUrl: adminUrls[0] as string,
      backend,
      sidecar: sidecars[0] as ServerProcess,
      sidecars,
      async restartSidecar(nodeArgs = []) {
        await stack.sidecar.stop();
        const fresh = await startSidecar(0, nodeArgs);
        sidecars[0] = fresh;
        stack.sidecar = fresh;
      },
      assertRunning() {
        for (const proc of [backend, ...sidecars]) {
          const ended = proc.ended();
          if (ended !== undefined)
            throw new Error(`the ${proc.name} died (${ended}):\n${proc.output()}`);
        }
      },
      async cacheCounters() {
        const sum: Record<string, number> = {};
        for (const url of adminUrls) {
          const text = await (await fetch(`${url}/metrics`)).text();
          for (const [k, v] of Object.entries(readCacheCounters(text))) sum[k] = (sum[k] ?? 0) + v;
        }
        return sum;
      },
      async close() {
        await Promise.all([...sidecars.map((p) => p.stop()), backend.stop()]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function seed(
  dataDir: string,
  options: StackOptions,
  log: (line: string) => void,
): Promise<Pick<BenchStack, 'tenantId' | 'owner' | 'users' | 'other' | 'sign'>> {
  const count = options.users;
  const started = Date.now();
  const store = await openStore({ dataDir, redisUrl: options.redisUrl });
  let tenantId: string;
  let owner: User;
  let other: { tenantId: string; owner: User } | undefined;
  const created: User[] = [];
  try {
    const t = await store.createTenant('bench', {
      name: 'Bench Owner',
      email: 'owner@bench.test',
      roles: ['admin'],
    });
    tenantId = t.tenant.id;
    owner = publicUser(t.owner);
    for (let i = 0; i < count; i++) {
      const u = await store.createUser(tenantId, {
        name: `User ${i}`,
        email: `user${i}@bench.test`,
        roles: options.roles?.(i) ?? ['user'],
      });
      created.push(publicUser(u));
      if ((i + 1) % 2500 === 0) log(`seeded ${i + 1}/${count} users`);
    }
    if (options.otherTenant === true) {
      const t = await store.createTenant('other', {
        name: 'Other Owner',
        email: 'owner@other.test',
        roles: ['admin'],
      });
      other = { tenantId: t.tenant.id, owner: publicUser(t.owner) };
    }
  } finally {
    await store.close();
  }
  await ensureDevKeys(dataDir);
  const signFor = (tenant: string, sub: string) =>
    issueDevToken(dataDir, {
      tenant,
      sub,
      ttlSeconds: TOKEN_TTL_SECONDS,
      issuer: ISSUER,
      audience: AUDIENCE,
      tenantClaim: 'tenant_id',
    });
  const sign = (sub: string) => signFor(tenantId, sub);
  const tokens: string[] = [];
  // Signing is async (WebCrypto) and reads the key file each time: batches overlap the waits.
  for (let i = 0; i < created.length; i += 200) {
    tokens.push(...(await Promise.all(created.slice(i, i + 200).map((u) => sign(u.id)))));
  }
  log(`seeded ${count} users and their tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    tenantId,
    owner: { user: owner, token: await sign(owner.id) },
    users: created.map((user, i) => ({ user, token: tokens[i] as string })),
    other:
      other === undefined
        ? undefined
        : {
            tenantId: other.tenantId,
            owner: { user: other.owner, token: await signFor(other.tenantId, other.owner.id) },
          },
    sign,
  };
}

/** `cedargate_cache_events_total{cache="x",result="y"} n` lines → {"x/y": n}. */
export function readCacheCounters(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  const line = /^cedargate_cache_events_total\{([^}]*)\}\s+(\S+)$/gm;
  for (const m of metricsText.matchAll(line)) {
    const labels = new Map(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]] as const),
    );
    out[`${labels.get('cache')}/${labels.get('result')}`] = Number(m[2]);
  }
  return out;
}
