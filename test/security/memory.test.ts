/**
 * Memory one tenant can exhaust for all (docs/security.md, cases 34 and 35), measured on the
 * real `start` process (backend and sidecar in one): its resident memory, read from /proc, must
 * stay within the bounds README.md states while one tenant reads many avatar users one by one,
 * and while it reads big list pages many at once — and other tenants keep being served.
 * Bounds, not timings: nothing here depends on how fast the machine is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/backend/store/sqlite.js';
import { DEFAULT_PAGE_MAX_BYTES } from '../../src/backend/store/page-budget.js';
import { MAX_AVATAR_BYTES } from '../../src/common/validate.js';
import type { User } from '../../src/common/user.js';
import { canMeasureMemory, peakMiB, resetPeak, residentMiB } from '../helpers/memory.js';
import type { Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';

/** How many avatar users tenant A has, each with an avatar of the largest size. */
const AVATAR_USERS = 600;
/** README.md, "Memory bounds": growth of the process while it reads every one of them. */
const READ_BOUND_MIB = 100;
/** README.md, "Memory bounds": growth while CONCURRENT_LISTS clients page through them at once. */
const LIST_BOUND_MIB = 160;
const CONCURRENT_LISTS = 8;
/** How many users each of those clients reads, following the cursors (`limit=200`). */
const LISTED_USERS = 200;

/** A valid avatar of exactly MAX_AVATAR_BYTES, different per user so nothing can share it. */
function largestAvatar(n: number): string {
  const prefix = 'data:image/png;base64,';
  const fill = Math.floor((MAX_AVATAR_BYTES - prefix.length) / 4) * 4;
  const tag = Buffer.from(String(n).padStart(6, '0')).toString('base64'); // 8 characters
  return prefix + tag + 'A'.repeat(fill - tag.length);
}

describe('memory one tenant can exhaust for all', { concurrency: false }, () => {
  let stack: Stack;
  let pid: number;
  let tenantA: string;
  let tokenA: string;
  let tenantB: string;
  let tokenB: string;
  let ownerB: User;
  let avatarIds: string[];

  before(async () => {
    const a = await startTenantStack('memory-a');
    stack = a.stack;
    pid = stack.process.child.pid ?? 0;
    const b = await openTenant(stack, 'memory-b');
    [tenantA, tokenA] = [a.tenantId, a.ownerToken];
    [tenantB, tokenB, ownerB] = [b.tenantId, b.ownerToken, b.owner];
    // Seeded straight into the store file `start` serves (WAL allows a second writer), so the
    // measured process never handled the uploads.
    const store = openSqliteStore(stack.dataDir);
    try {
      avatarIds = [];
      for (let i = 0; i < AVATAR_USERS; i++) {
        const u = await store.createUser(tenantA, {
          name: `avatar ${i}`,
          email: `avatar${i}@memory.test`,
          roles: ['user'],
          avatar: largestAvatar(i),
        });
        avatarIds.push(u.id);
      }
    } finally {
      await store.close();
    }
  });

  after(async () => {
    await stack?.stop();
  });

  /** Runs `phase` and answers how far the process's resident memory rose above where it was. */
  async function growthDuring(phase: () => Promise<void>): Promise<{ peak: number; end: number }> {
    const baseline = residentMiB(pid);
    resetPeak(pid);
    await phase();
    return { peak: peakMiB(pid) - baseline, end: residentMiB(pid) - baseline };
  }

  /** Follows the cursors from the first page until `enough` users were seen, or to the end. */
  async function listAll(
    tenant: string,
    token: string,
    enough = Infinity,
  ): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let pages = 0;
    let cursor: string | null = null;
    do {
      const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const r = await stack.call('GET', `/v1/users?limit=200${q}`, { token, tenant });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      ids.push(...r.body.users.map((u) => u.id));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor !== null && ids.length < enough);
    return { ids, pages };
  }

  it(`reading ${AVATAR_USERS} avatar users one by one keeps the process within ${READ_BOUND_MIB} MiB of where it was`, async (t) => {
    if (!canMeasureMemory(pid)) return t.skip('no /proc on this machine');
    // Warm up every path first, so what is measured is what the reads keep.
    for (const id of avatarIds.slice(0, 10)) {
      await stack.call('GET', `/v1/users/${id}`, { token: tokenA, tenant: tenantA });
    }
    const growth = await growthDuring(async () => {
      for (const id of avatarIds) {
        const r = await stack.call('GET', `/v1/users/${id}`, { token: tokenA, tenant: tenantA });
        assert.equal(r.status, 200, r.text.slice(0, 300));
        assert.equal((r.body as User).avatar?.length, largestAvatar(0).length);
      }
    });
    t.diagnostic(`growth: peak ${growth.peak.toFixed(1)} MiB, end ${growth.end.toFixed(1)} MiB`);
    assert.ok(
      growth.peak <= READ_BOUND_MIB,
      `resident memory rose ${growth.peak.toFixed(1)} MiB (${growth.end.toFixed(1)} MiB kept) reading ${AVATAR_USERS} avatar users; the bound is ${READ_BOUND_MIB} MiB`,
    );
  });

  it('a page over avatar users is capped in bytes: fewer than limit, a next_cursor, every user once', async () => {
    const first = await stack.call('GET', '/v1/users?limit=200', {
      token: tokenA,
      tenant: tenantA,
    });
    assert.equal(first.status, 200);
    const users = first.body.users;
    assert.ok(
      users.length < 200,
      `a limit=200 page over ${AVATAR_USERS} avatar users held ${users.length} users (${first.text.length} bytes)`,
    );
    assert.ok(users.length >= 1);
    assert.equal(typeof first.body.next_cursor, 'string');
    assert.ok(
      Buffer.byteLength(first.text) <= DEFAULT_PAGE_MAX_BYTES + 64 * 1024,
      `a page of ${Buffer.byteLength(first.text)} bytes`,
    );
    const { ids } = await listAll(tenantA, tokenA);
    assert.equal(ids.length, AVATAR_USERS + 1);
    assert.equal(new Set(ids).size, AVATAR_USERS + 1);
    for (const id of avatarIds) assert.ok(ids.includes(id));
  });

  it(`${CONCURRENT_LISTS} clients paging through avatar users at once keep the process within ${LIST_BOUND_MIB} MiB, and tenant B is served meanwhile`, async (t) => {
    if (!canMeasureMemory(pid)) return t.skip('no /proc on this machine');
    await listAll(tenantA, tokenA, LISTED_USERS); // warm up
    let burstDone = false;
    let servedDuringBurst = 0;
    const otherTenant = (async () => {
      while (!burstDone) {
        const r = await stack.call('GET', `/v1/users/${ownerB.id}`, {
          token: tokenB,
          tenant: tenantB,
        });
        assert.equal(r.status, 200, `tenant B during the burst: ${r.status} ${r.text}`);
        assert.equal((r.body as User).id, ownerB.id);
        if (!burstDone) servedDuringBurst++;
      }
    })();
    const growth = await growthDuring(async () => {
      try {
        const lists = await Promise.all(
          Array.from({ length: CONCURRENT_LISTS }, () => listAll(tenantA, tokenA, LISTED_USERS)),
        );
        for (const { ids } of lists) {
          assert.ok(ids.length >= LISTED_USERS);
          assert.equal(new Set(ids).size, ids.length);
        }
      } finally {
        burstDone = true;
      }
    });
    await otherTenant;
    t.diagnostic(`growth: peak ${growth.peak.toFixed(1)} MiB, end ${growth.end.toFixed(1)} MiB`);
    assert.ok(servedDuringBurst >= 1, 'tenant B was not served while the big pages were read');
    assert.ok(
      growth.peak <= LIST_BOUND_MIB,
      `resident memory rose ${growth.peak.toFixed(1)} MiB while ${CONCURRENT_LISTS} clients each read ${LISTED_USERS} avatar users in pages; the bound is ${LIST_BOUND_MIB} MiB`,
    );
  });
});
