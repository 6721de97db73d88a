/**
 * One backend and several sidecar processes on one Redis, each sidecar with its own environment
 * (a replica may reach Redis through a cutter, run another consistency mode, keep users longer).
 * Tokens are signed with the development key in the shared DATA_DIR; the tenant comes from the
 * real `tenant create` command. Used by the suites that pause, stall or cut one replica.
 */
import { join } from 'node:path';
import { ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';
import { freePort, waitFor } from './net.js';
import { shippedPolicies, startCli, tempDir, type RunningProcess } from './process.js';
import { callPort, createTenantWithCli, devToken, type Reply } from './stack.js';

export interface Replica {
  name: string;
  port: number;
  adminPort: number;
  adminUrl: string;
  proc: RunningProcess;
  /** One request through this replica, as `token`, in the set's tenant. */
  call(method: string, path: string, token: string, body?: unknown): Promise<Reply>;
  /** GET on the admin port, parsed. */
  admin<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }>;
  /** The text of /metrics. */
  metrics(): Promise<string>;
}

export interface ReplicaSet {
  /** The environment every process shares (REDIS_URL, DATA_DIR, TRUST_SECRET, …). */
  env: Record<string, string>;
  dataDir: string;
  backend: RunningProcess;
  replicas: Replica[];
  tenantId: string;
  ownerId: string;
  token(sub: string): Promise<string>;
  stop(): Promise<void>;
}

export interface ReplicaSpec {
  name: string;
  /** Added to (and overriding) the shared environment, e.g. REDIS_URL through a cutter. */
  env?: Record<string, string>;
}

/** Starts the backend, then the sidecars (ready), then makes a tenant `acme`. */
export async function startReplicaSet(options: {
  redisUrl: string;
  replicas: ReplicaSpec[];
  /** Added to every process's environment (the backend's too). */
  env?: Record<string, string>;
}): Promise<ReplicaSet> {
  const dir = tempDir('cedargate-replicas-');
  const dataDir = join(dir.path, 'data');
  await ensureDevKeys(dataDir);
  const env: Record<string, string> = {
    REDIS_URL: options.redisUrl,
    DATA_DIR: dataDir,
    POLICY_DIR: shippedPolicies,
    TRUST_SECRET: 'a-test-trust-secret-of-32-chars-xx',
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const backendPort = await freePort();
  const backend = startCli(['backend'], { ...env, BACKEND_PORT: String(backendPort) });
  const replicas: Replica[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
    await backend.stop();
    dir.remove();
  };
  try {
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${backendPort}/healthz`)).ok,
      30_000,
      `the backend\n${backend.output()}`,
    );
    for (const spec of options.replicas) {
      const upstream = `http://127.0.0.1:${backendPort}`;
      const replicaEnv = { ...env, ...spec.env };
      replicas.push(await launchSidecar(spec.name, replicaEnv, upstream, () => tenant.tenantId));
    }
    for (const r of replicas) await replicaReady(r);
  } catch (err) {
    await stop();
    throw err;
  }
  const tenant = await createTenantWithCli(env, 'acme');
  return {
    env,
    dataDir,
    backend,
    replicas,
    tenantId: tenant.tenantId,
    ownerId: tenant.owner.id,
    token: (sub) => devToken(dataDir, tenant.tenantId, sub),
    stop,
  };
}

/**
 * A sidecar process named `name` in front of `upstreamUrl` on free ports, trusting the development
 * key of `env.DATA_DIR` (made if missing); `env` on top of the sidecar's own variables. Not waited
 * for: see {@link replicaReady}. `tenantId` is the tenant its `call` sends.
 */
export async function launchSidecar(
  name: string,
  env: Record<string, string>,
  upstreamUrl: string,
  tenantId: () => string,
): Promise<Replica> {
  const dataDir = env['DATA_DIR'];
  if (dataDir === undefined) throw new Error(`sidecar ${name}: its env has no DATA_DIR`);
  const { jwksPath } = await ensureDevKeys(dataDir);
  const [port, adminPort] = [await freePort(), await freePort()];
  const proc = startCli(['sidecar'], {
    UPSTREAM_URL: upstreamUrl,
    JWKS_FILE: jwksPath,
    JWT_ISSUER: 'cedargate-dev',
    JWT_AUDIENCE: 'cedargate',
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    HOST: '127.0.0.1',
    ...env,
  });
  return replicaOn(name, port, adminPort, proc, tenantId);
}

/** Resolves once `r` answers /readyz with 200 (a minute at the most). */
export async function replicaReady(r: Replica): Promise<void> {
  await waitFor(
    async () => (await r.admin('/readyz')).status === 200,
    60_000,
    `replica ${r.name} ready\n${r.proc.output()}`,
  );
}

function replicaOn(
  name: string,
  port: number,
  adminPort: number,
  proc: RunningProcess,
  tenantId: () => string,
): Replica {
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    name,
    port,
    adminPort,
    adminUrl,
    proc,
    call: (method, path, token, body) =>
      callPort(port, method, path, { token, tenant: tenantId(), body }),
    async admin<T>(path: string) {
      const res = await fetch(`${adminUrl}${path}`);
      return { status: res.status, body: (await res.json()) as T };
    },
    metrics: async () => (await fetch(`${adminUrl}/metrics`)).text(),
  };
}
