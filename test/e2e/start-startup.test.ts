/**
 * `cedargate start` at start-up (issue 11 item 10): a port already in use stops the process with
 * one line naming the variable — also with REDIS_URL, whose connections once kept it alive after
 * the error — and the admin port listens on loopback unless ADMIN_HOST says otherwise.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '../helpers/net.js';
import { shippedPolicies, startCli, tempDir, type RunningProcess } from '../helpers/process.js';
import { redisAvailable, startRedis, type RunningRedis } from '../helpers/redis.js';

/** Far above a normal start: a process still running by then never exits by itself. */
const EXIT_BOUND_MS = 20_000;

async function occupy(): Promise<{ port: number; server: Server }> {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
  return { port, server };
}

/** Waits for the process to exit; kills it and fails when it does not. */
async function exitOf(p: RunningProcess): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), EXIT_BOUND_MS);
  });
  const code = await Promise.race([p.exited, hung]);
  clearTimeout(timer);
  if (code === 'hung') {
    await p.stop('SIGKILL');
    assert.fail(`start printed its error but never exited:\n${p.output()}`);
  }
  return code;
}

/** The lines `start` wrote to stderr (logs go to stdout). */
function stderrLines(p: RunningProcess): string[] {
  return p
    .stderr()
    .split('\n')
    .filter((l) => l.trim() !== '');
}

describe('start: ports in use and the admin address', () => {
  const data = tempDir('cedargate-startup-');
  let redis: RunningRedis | undefined;
  const held: Server[] = [];

  before(async () => {
    if (redisAvailable()) redis = await startRedis();
  });
  after(async () => {
    for (const s of held) s.close();
    await redis?.stop();
    data.remove();
  });

  async function baseEnv(): Promise<Record<string, string>> {
    return {
      PORT: String(await freePort()),
      ADMIN_PORT: String(await freePort()),
      BACKEND_PORT: String(await freePort()),
      DATA_DIR: data.path,
      POLICY_DIR: shippedPolicies,
    };
  }

  for (const variable of ['PORT', 'ADMIN_PORT', 'BACKEND_PORT'] as const) {
    for (const withRedis of [false, true]) {
      it(`${variable} in use${withRedis ? ', with REDIS_URL' : ''} → exits non-zero with one line naming ${variable}`, async (t) => {
        if (withRedis && redis === undefined) return t.skip('redis-server not installed');
        const busy = await occupy();
        held.push(busy.server);
        const env = { ...(await baseEnv()), [variable]: String(busy.port) };
        if (withRedis && redis !== undefined) env.REDIS_URL = redis.url;
        const p = startCli(['start'], env);
        const code = await exitOf(p);
        assert.notEqual(code, 0, p.output());
        const lines = stderrLines(p);
        assert.equal(lines.length, 1, `expected one line on stderr, got:\n${lines.join('\n')}`);
        assert.match(lines[0] ?? '', new RegExp(`\\b${variable}\\b.*${busy.port}.*in use`));
        assert.doesNotMatch(p.stderr(), /^\s+at /m, 'a stack trace was printed');
      });
    }
  }

  it('the admin port listens on 127.0.0.1 by default, while the API port follows HOST', async () => {
    const env = await baseEnv();
    const p = startCli(['start'], env); // HOST unset: the API listens on every interface
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${env.ADMIN_PORT}/healthz`)).ok,
        20_000,
        `start\n${p.output()}`,
      );
      // All of 127/8 is loopback on Linux: a socket bound to every interface answers on
      // 127.0.0.2, one bound to 127.0.0.1 alone does not.
      const api = await fetch(`http://127.0.0.2:${env.PORT}/v1/users`);
      assert.equal(api.status, 401, 'the API port should answer on every interface');
      assert.equal(((await api.json()) as { code: string }).code, 'unauthenticated');
      await assert.rejects(
        fetch(`http://127.0.0.2:${env.ADMIN_PORT}/healthz`),
        (err: Error & { cause?: { code?: string } }) => {
          assert.equal(err.cause?.code, 'ECONNREFUSED');
          return true;
        },
        'the admin port answered on an address other than 127.0.0.1',
      );
    } finally {
      await p.stop();
    }
  });

  it('ADMIN_HOST moves the admin port', async () => {
    const env: Record<string, string> = { ...(await baseEnv()), ADMIN_HOST: '127.0.0.2' };
    const p = startCli(['start'], env);
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.2:${env.ADMIN_PORT}/healthz`)).ok,
        20_000,
        `start\n${p.output()}`,
      );
      await assert.rejects(fetch(`http://127.0.0.1:${env.ADMIN_PORT}/healthz`));
    } finally {
      await p.stop();
    }
  });
});
