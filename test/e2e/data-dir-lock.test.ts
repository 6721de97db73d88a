/**
 * Two `start` processes on one DATA_DIR without Redis would serve one SQLite file with two user
 * caches that disagree for the TTL: the second is refused by a lock file, and a lock left by a
 * dead process is taken over.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DATA_DIR_LOCK_FILE } from '../../src/backend/store/sqlite-lock.js';
import { freePort, waitFor } from '../helpers/net.js';
import { shippedPolicies, startCli, tempDir } from '../helpers/process.js';

async function env(dataDir: string): Promise<Record<string, string>> {
  return {
    PORT: String(await freePort()),
    ADMIN_PORT: String(await freePort()),
    BACKEND_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    POLICY_DIR: shippedPolicies,
  };
}

describe('start: one DATA_DIR, one process', () => {
  it('refuses a second start on the same DATA_DIR with one line, and exits non-zero', async () => {
    const data = tempDir('cedargate-lock-');
    const firstEnv = await env(data.path);
    const first = startCli(['start'], firstEnv);
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${firstEnv.ADMIN_PORT}/healthz`)).ok,
        20_000,
        `first start\n${first.output()}`,
      );
      const second = startCli(['start'], await env(data.path));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        second.exited,
        new Promise<string>(
          (resolve) => (timer = setTimeout(() => resolve('still running'), 20_000)),
        ),
      ]);
      clearTimeout(timer);
      await second.stop('SIGKILL');
      assert.notEqual(code, 0, second.output());
      const lines = second
        .stderr()
        .split('\n')
        .filter((l) => l.trim() !== '');
      assert.equal(lines.length, 1, second.stderr());
      assert.match(lines[0] ?? '', /DATA_DIR/);
      assert.match(lines[0] ?? '', new RegExp(`pid ${first.child.pid}`));
      // The first one still serves.
      assert.ok((await fetch(`http://127.0.0.1:${firstEnv.ADMIN_PORT}/healthz`)).ok);
    } finally {
      await first.stop();
      data.remove();
    }
  });

  it('takes over a lock left by a dead process', async () => {
    const data = tempDir('cedargate-lock-');
    // A pid no live process has: above any default pid_max.
    writeFileSync(join(data.path, DATA_DIR_LOCK_FILE), '4194305\n');
    const e = await env(data.path);
    const p = startCli(['start'], e);
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${e.ADMIN_PORT}/healthz`)).ok,
        20_000,
        `start over a stale lock\n${p.output()}`,
      );
    } finally {
      await p.stop();
      data.remove();
    }
  });
});
