/**
 * The backend and the sidecar as two separate processes (as in a pod) so one can be killed,
 * stopped or restarted under the other. `upstream` can put a hop (./hop.ts) between them.
 */
import { join } from 'node:path';
import { ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';
import type { User } from '../../src/common/user.js';
import { createTenantWithCli, devToken } from './stack.js';
import { freePort, waitFor } from './net.js';
import { shippedPolicies, startCli, tempDir, type RunningProcess } from './process.js';
import { DEV_AUDIENCE, DEV_ISSUER } from './tokens.js';

export interface SplitStack {
  url: string;
  adminUrl: string;
  backendUrl: string;
  dataDir: string;
  /** The environment both processes share (DATA_DIR, POLICY_DIR, ports, ...). */
  env: Record<string, string>;
  backend: RunningProcess;
  sidecar: RunningProcess;
  startBackend(): Promise<RunningProcess>;
  startSidecar(): Promise<RunningProcess>;
  /** One more sidecar replica on its own ports, same backend and settings; stopped by `stop`. */
  startReplica(): Promise<{ url: string; adminUrl: string; process: RunningProcess }>;
  createTenant(name: string): Promise<{ tenantId: string; owner: User }>;
  token(tenantId: string, sub: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * `cedargate backend` and `cedargate sidecar` as two processes on one DATA_DIR (trust secret and
 * development keys shared, as two containers of a pod share a Secret). The sidecar verifies with
 * the development JWKS as a JWKS_FILE. `upstream` puts a hop between them (default: none).
 */
export async function startSplitStack(
  options: {
    env?: Record<string, string>;
    /** For the sidecars only (e.g. REDIS_URL for the cluster channel, the backend staying on SQLite). */
    sidecarEnv?: Record<string, string>;
    upstream?: (backendUrl: string) => string;
  } = {},
): Promise<SplitStack> {
  const data = tempDir('cedargate-faults-');
  const dataDir = join(data.path, 'data');
  const { jwksPath } = await ensureDevKeys(dataDir);
  const [port, adminPort, backendPort] = [await freePort(), await freePort(), await freePort()];
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    BACKEND_PORT: String(backendPort),
    UPSTREAM_URL: options.upstream?.(backendUrl) ?? backendUrl,
    DATA_DIR: dataDir,
    POLICY_DIR: shippedPolicies,
    JWKS_FILE: jwksPath,
    JWT_ISSUER: DEV_ISSUER,
    JWT_AUDIENCE: DEV_AUDIENCE,
    ...options.env,
  };
  const replicas: RunningProcess[] = [];
  const stack: SplitStack = {
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    backendUrl,
    dataDir,
    env,
    backend: undefined as unknown as RunningProcess,
    sidecar: undefined as unknown as RunningProcess,
    async startBackend() {
      const p = startCli(['backend'], env);
      await waitFor(
        async () => (await fetch(`${backendUrl}/healthz`)).ok,
        20_000,
        `backend\n${p.output()}`,
      );
      stack.backend = p;
      return p;
    },
    async startSidecar() {
      const p = startCli(['sidecar'], { ...env, ...options.sidecarEnv });
      await waitFor(
        async () => (await fetch(`${stack.adminUrl}/healthz`)).ok,
        20_000,
        `sidecar\n${p.output()}`,
      );
      stack.sidecar = p;
      return p;
    },
    async startReplica() {
      const [p2, a2] = [await freePort(), await freePort()];
      const p = startCli(['sidecar'], {
        ...env,
        ...options.sidecarEnv,
        PORT: String(p2),
        ADMIN_PORT: String(a2),
      });
      replicas.push(p);
      const adminUrl = `http://127.0.0.1:${a2}`;
      await waitFor(
        async () => (await fetch(`${adminUrl}/healthz`)).ok,
        20_000,
        `replica\n${p.output()}`,
      );
      return { url: `http://127.0.0.1:${p2}`, adminUrl, process: p };
    },
    createTenant: (name) => createTenantWithCli(env, name),
    token: (tenantId, sub) => devToken(dataDir, tenantId, sub),
    async stop() {
      await Promise.all([
        stack.sidecar?.stop('SIGKILL'),
        stack.backend?.stop('SIGKILL'),
        ...replicas.map((r) => r.stop('SIGKILL')),
      ]);
      data.remove();
    },
  };
  try {
    await stack.startBackend();
    await stack.startSidecar();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
