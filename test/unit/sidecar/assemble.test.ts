/**
 * The sidecar's assembly (issue #12 item 5): a failure after the cluster started closes what was
 * already open — the cluster, the policy watcher, the upstream agent — so that the process can
 * print its one line and exit.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { createLogger } from '../../../src/common/logger.js';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { startSidecar } from '../../../src/sidecar/assemble.js';
import type { SidecarCluster } from '../../../src/sidecar/cluster/cluster.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { shippedPolicies, tempDir } from '../../helpers/process.js';
import { skipWithoutRedis, startRedis, type RunningRedis } from '../../helpers/redis.js';

const logger = createLogger('silent');
const dir = tempDir('cedargate-assemble-');
const held: Server[] = [];
after(() => {
  for (const s of held) s.close();
  dir.remove();
});

async function busyPort(): Promise<number> {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  held.push(server);
  return port;
}

function configWith(env: Record<string, string>) {
  return loadConfig('start', {
    DATA_DIR: join(dir.path, 'data'),
    POLICY_DIR: shippedPolicies,
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    UPSTREAM_URL: 'http://127.0.0.1:9',
    ...env,
  });
}

/** A cluster that records what was done to it; `start` fails when told to. */
function fakeCluster(startFails = false): SidecarCluster & { closed: number; started: number } {
  const fake = {
    closed: 0,
    started: 0,
    catchUp: () => Promise.resolve(),
    status: () => {
      throw new Error('unused');
    },
    start() {
      fake.started++;
      return startFails ? Promise.reject(new Error('channel refused')) : Promise.resolve();
    },
    revocation: { assertNotRevoked: () => undefined },
    health: () => ({ ok: true, detail: 'fake', checks: {} }),
    close() {
      fake.closed++;
      return Promise.resolve();
    },
  };
  return fake;
}

describe('startSidecar: cleanup on failure', () => {
  it('ADMIN_PORT in use after the cluster started → a ConfigError naming ADMIN_PORT, the cluster closed', async () => {
    const cluster = fakeCluster();
    const config = configWith({ ADMIN_PORT: String(await busyPort()) });
    await assert.rejects(startSidecar({ config, logger, cluster }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.variable, 'ADMIN_PORT');
      return true;
    });
    assert.equal(cluster.started, 1);
    assert.equal(cluster.closed, 1, 'the cluster was left open');
  });

  it('the cluster failing to start → the error, and the cluster closed', async () => {
    const cluster = fakeCluster(true);
    await assert.rejects(
      startSidecar({ config: configWith({}), logger, cluster }),
      /channel refused/,
    );
    assert.equal(cluster.closed, 1, 'the cluster was left open');
  });

  it('closes once, whether close is called once or twice', async () => {
    const cluster = fakeCluster();
    const sidecar = await startSidecar({ config: configWith({}), logger, cluster });
    assert.ok(sidecar.port > 0 && sidecar.adminPort > 0);
    await Promise.all([sidecar.close(), sidecar.close()]);
    assert.equal(cluster.closed, 1);
  });
});

describe('startSidecar with REDIS_URL', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('ADMIN_PORT in use → the error, and no Redis connection left open', async () => {
    const config = configWith({ REDIS_URL: redis.url, ADMIN_PORT: String(await busyPort()) });
    await assert.rejects(startSidecar({ config, logger }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.variable, 'ADMIN_PORT');
      return true;
    });
    const probe = createClient({ url: redis.url });
    await probe.connect();
    try {
      // CLIENT LIST counts the probe itself; a connection closing may take a moment to go.
      const others = async () =>
        (await probe.sendCommand<string>(['CLIENT', 'LIST'])).trim().split('\n').length - 1;
      await waitFor(async () => (await others()) === 0, 5_000, 'Redis connections left open');
    } finally {
      probe.destroy();
    }
  });
});
