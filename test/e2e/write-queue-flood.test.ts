/**
 * Issue 22 item 2: denied writes must not take places in another user's write queue. A plain
 * `user` who may not write Carol floods her with PUTs while the owner renames her: each of the
 * flood is refused (403) before it waits behind anyone, and the owner's renames are all 200.
 * A principal who may write her still holds no more than a small share of her queue (503
 * `unavailable` with Retry-After past it, for that principal only).
 *
 * The owner's first rename is held at the backend (the recorder's delay), so Carol's queue has a
 * write at its head for as long as the test needs: what waits behind it and what does not is then
 * decided by the queue's rules, not by timing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import type { Reply, Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

describe('write queue under a flood (issue 22 item 2)', () => {
  let s: Stack;
  let tenantId: string;
  let ownerToken: string;
  let malloryToken: string;
  let carol: User;
  let carolToken: string;

  before(async () => {
    // A held write must outlast the test's floods, not time out at the proxy.
    const t = await startTenantStack('flood', { env: { UPSTREAM_TIMEOUT_MS: '120000' } });
    ({ stack: s, tenantId, ownerToken } = t);
    [{ user: carol, token: carolToken }, { token: malloryToken }] = await t.seed(
      ['Carol', ['user']],
      ['Mallory', ['user']],
    );
  });
  after(async () => {
    s.recorder.delayMs = 0;
    await s?.stop();
  });

  const rename = (token: string, name: string): Promise<Reply> =>
    s.call('PUT', `/v1/users/${carol.id}`, { token, tenant: tenantId, body: { name } });

  /** The owner renames Carol and the backend holds that write for 15 s. */
  async function holdCarolsQueue(): Promise<{ held: Promise<Reply> }> {
    s.recorder.delayMs = 15_000;
    const before = s.recorder.seen();
    const held = rename(ownerToken, 'Carol (held)');
    await waitFor(() => s.recorder.seen() === before + 1, 10_000, 'the held write at the backend');
    // Only that one is delayed: the writes queued behind it go through as soon as it is done.
    s.recorder.delayMs = 0;
    return { held };
  }

  it("a user who may not write Carol: 400 concurrent PUTs are all 403 while her queue's head is held; the owner's writes behind it are 200", async () => {
    const { held } = await holdCarolsQueue();
    const flood = await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const r = await rename(malloryToken, `Mallory was here ${i}`);
        return { status: r.status, code: r.body?.code, heldStill: s.recorder.inFlight() === 1 };
      }),
    );
    const byStatus = new Map<string, number>();
    for (const f of flood) {
      const k = `${f.status} ${f.code}`;
      byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
    }
    assert.deepEqual([...byStatus], [['403 forbidden', 400]], 'every denied write refused at once');
    assert.ok(
      flood.every((f) => f.heldStill),
      'each 403 came while the owner’s write was still held: none of them waited behind it',
    );
    const owners = await Promise.all(
      Array.from({ length: 9 }, (_, i) => rename(ownerToken, `Carol ${i}`)),
    );
    assert.deepEqual(
      owners.map((r) => r.status),
      Array(9).fill(200),
    );
    assert.equal((await held).status, 200);
    assert.equal(
      s.recorder.forwarded().filter((r) => r.body.includes('Mallory was here')).length,
      0,
      'nothing denied was forwarded',
    );
  });

  it('a principal who may write Carol holds at most a small share of her queue: past it 503 unavailable with Retry-After, the owner still queues', async () => {
    const { held } = await holdCarolsQueue();
    const carols = Array.from({ length: 60 }, (_, i) => rename(carolToken, `Carol self ${i}`));
    const owner = rename(ownerToken, 'Carol by the owner');
    const answers = await Promise.all(carols);
    const refused = answers.filter((r) => r.status === 503);
    assert.ok(refused.length > 0, 'Carol alone took 60 places in her queue');
    for (const r of refused) {
      assert.equal(r.body.code, 'unavailable');
      assert.equal(r.headers.get('retry-after'), '1');
    }
    assert.ok(
      answers.every((r) => r.status === 200 || r.status === 503),
      answers.map((r) => r.status).join(),
    );
    assert.equal((await owner).status, 200, 'the owner is not refused for Carol’s share');
    assert.equal((await held).status, 200);
  });

  it("the issue's flood: 1,500 concurrent denied PUTs while the owner renames Carol 10 times: all 10 are 200, none waits longer than a read beside it", async () => {
    const flood = Promise.all(
      Array.from({ length: 1500 }, () =>
        rename(malloryToken, 'Mallory was here').then((r) => `${r.status} ${r.body?.code}`),
      ),
    );
    // Each rename goes with a read of Carol by the owner, sent at the same moment: both wait
    // for the same busy process, only the rename could wait behind the flood's writes.
    const timed = async (call: () => Promise<Reply>) => {
      const t0 = performance.now();
      const r = await call();
      return { status: r.status, code: r.body?.code, ms: performance.now() - t0 };
    };
    const pairs = [];
    for (let i = 0; i < 10; i++) {
      pairs.push(
        await Promise.all([
          timed(() => rename(ownerToken, `Carol under flood ${i}`)),
          timed(() =>
            s.call('GET', `/v1/users/${carol.id}`, { token: ownerToken, tenant: tenantId }),
          ),
        ]),
      );
    }
    const answers = await flood;
    assert.deepEqual(
      pairs.map(([put]) => `${put.status} ${put.code}`),
      Array(10).fill('200 undefined'),
    );
    assert.deepEqual([...new Set(answers)], ['403 forbidden'], 'every flooding PUT is 403');
    // Generous, and measured in this run: the renames take at most 3x the reads beside them
    // plus 250 ms in all (the write itself at the backend).
    const putMs = pairs.reduce((sum, [put]) => sum + put.ms, 0);
    const getMs = pairs.reduce((sum, [, get]) => sum + get.ms, 0);
    assert.ok(
      putMs <= 3 * getMs + 250,
      `the owner's renames took ${putMs.toFixed(0)} ms, the reads beside them ${getMs.toFixed(0)} ms`,
    );
  });
});
