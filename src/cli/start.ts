/**
 * `cedargate start`: the backend and the sidecar in one process with embedded defaults
 * (SQLite and the development key in DATA_DIR, policies from POLICY_DIR) — for a laptop or
 * `docker run`.
 */
import { loadConfig } from '../config.js';
import { createLogger, routeConsoleTo } from '../common/logger.js';
import { startBackend } from '../backend/server.js';
import { readAllowedRoles } from '../policy/schema.js';
import { startSidecar, type RunningSidecar } from '../sidecar/assemble.js';
import { serveUntilSignal } from './serve.js';
import { parseFlags } from './usage.js';

export async function run(args: string[]): Promise<number> {
  parseFlags(args, {}, 'cedargate start   (configured by environment: see README)');
  const config = loadConfig('start');
  const logger = createLogger(config.logLevel);
  routeConsoleTo(logger);
  // One loaded schema feeds both halves: the backend's 422 check asks the sidecar's live policy
  // set, so a role the sidecar decides on is never refused by a backend still on the old schema.
  // Until the sidecar is up (no trusted request can reach the backend before), the roles read
  // now, which also stops a start on a broken schema.
  const rolesAtStart = Object.freeze(readAllowedRoles(config.policyDir));
  let sidecar: RunningSidecar | undefined;
  const backend = await startBackend(config, logger.child({ component: 'backend' }), {
    allowedRoles: () => sidecar?.policies.current().roles ?? rolesAtStart,
  });
  try {
    sidecar = await startSidecar({
      config,
      logger,
      // UPSTREAM_URL unset: the backend we just started, wherever it bound.
      upstreamUrl: config.upstreamUrlSet ? config.upstreamUrl : `http://127.0.0.1:${backend.port}`,
    });
  } catch (err) {
    await backend.close();
    throw err;
  }
  const running = sidecar;
  process.stderr.write(
    banner(running.port, config.adminHost, running.adminPort, backend.port, config.dataDir),
  );
  return serveUntilSignal(
    logger,
    async () => {
      await running.close();
      await backend.close();
    },
    {
      graceMs: config.shutdownGraceMs,
      onHangup: () => {
        void running.policies.reload('SIGHUP');
        void running.identity.reload('SIGHUP');
      },
    },
  );
}

function banner(
  port: number,
  adminHost: string,
  adminPort: number,
  backendPort: number,
  dataDir: string,
): string {
  const admin = `http://${adminHost.includes(':') ? `[${adminHost}]` : adminHost}:${adminPort}`;
  return `
cedargate is running
  API (through the sidecar):  http://localhost:${port}/v1/users
  admin (ADMIN_HOST):         ${admin}/status  (/healthz /readyz /metrics)
  users backend (loopback):   http://127.0.0.1:${backendPort}
  data and development keys:  ${dataDir}

Try it (in another terminal):
  bin/cedargate tenant create --name acme --owner-name Ada --owner-email ada@acme.test
  TOKEN=$(bin/cedargate token --tenant <tenant.id> --sub <owner.id>)
  curl -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: <tenant.id>" http://localhost:${port}/v1/users

`;
}
