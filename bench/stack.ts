/**
 * The system under test: a temporary DATA_DIR seeded with one tenant of N users (through the
 * store, in-process, before any server opens it: 10,000 CLI or HTTP calls would take minutes),
 * a development token for every user, then `cedargate backend` and `cedargate sidecar` as
 * separate processes on free ports, both at LOG_LEVEL=warn.
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
  sidecarUrl: string;
  adminUrl: string;
  backend: ServerProcess;
  sidecar: ServerProcess;
  /** Stops the sidecar and starts a new one on the same ports (e.g. with `--cpu-prof`). */
  restartSidecar(nodeArgs?: readonly string[]): Promise<void>;
  /** Throws, with the process's output, when the backend or the sidecar is no longer running. */
  assertRunning(): void;
  /** The sidecar's Prometheus cache counters, as `cache/result` → count. */
  cacheCounters(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Options of {@link startBenchStack}. */
export interface StackOptions {
  users: number;
  policyDir?: string;
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
    const [backendPort, port, adminPort] = [await freePort(), await freePort(), await freePort()];
    const common = {
      DATA_DIR: dataDir,
      POLICY_DIR: policyDir,
      TRUST_SECRET: trustSecret,
      LOG_LEVEL: 'warn',
    };
    const backendUrl = `http://127.0.0.1:${backendPort}`;
    const backend = spawnCedargate('backend', 'backend', {
      ...common,
      BACKEND_PORT: String(backendPort),
      BACKEND_HOST: '127.0.0.1',
    });
    await waitUntilHealthy(backend, `${backendUrl}/healthz`);
    const sidecarEnv = {
      ...common,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      UPSTREAM_URL: backendUrl,
      JWKS_FILE: devJwksPath(dataDir),
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
    };
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const startSidecar = async (nodeArgs: readonly string[] = []) => {
      const proc = spawnCedargate('sidecar', 'sidecar', sidecarEnv, nodeArgs);
      await waitUntilHealthy(proc, `${adminUrl}/readyz`);
      return proc;
    };
    let sidecar: ServerProcess;
    try {
      sidecar = await startSidecar();
    } catch (err) {
      await backend.stop();
      throw err;
    }
    log(`backend pid ${backend.pid} on ${backendUrl}; sidecar pid ${sidecar.pid} on :${port}`);

    const stack: BenchStack = {
      ...seeded,
      trustSecret,
      jwksFile: devJwksPath(dataDir),
      backendUrl,
      sidecarUrl: `http://127.0.0.1:${port}`,
      adminUrl,
      backend,
      sidecar,
      async restartSidecar(nodeArgs = []) {
        await stack.sidecar.stop();
        sidecar = await startSidecar(nodeArgs);
        stack.sidecar = sidecar;
      },
      assertRunning() {
        for (const proc of [backend, stack.sidecar]) {
          const ended = proc.ended();
          if (ended !== undefined)
            throw new Error(`the ${proc.name} died (${ended}):\n${proc.output()}`);
        }
      },
      async cacheCounters() {
        const text = await (await fetch(`${adminUrl}/metrics`)).text();
        return readCacheCounters(text);
      },
      async close() {
        await Promise.all([stack.sidecar.stop(), backend.stop()]);
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
  const store = await openStore({ dataDir, redisUrl: undefined });
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
