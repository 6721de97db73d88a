/**
 * One request's store calls within STORE_TIMEOUT_MS: a store that answers in time is the answer;
 * one that does not is 503 `unavailable` with Retry-After and `details.reason` `store_timeout`,
 * a write's saying it may have been applied (the call is not taken back); the budget is the
 * request's, so a read and a write share it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredUser } from '../../../../src/common/user.js';
import { CedargateError, errorResponse } from '../../../../src/errors.js';
import {
  storeWithinTimeout,
  type RequestStore,
} from '../../../../src/backend/store/store-timeout.js';
import { RETRY_UNCONFIRMED } from '../../../../src/backend/store/store.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const U = 'CCCCCCCC-0000-4000-8000-000000000001';
const user = { id: U } as StoredUser;

/** A store whose every call answers after `ms` (never, for Infinity), counting the calls. */
function slowStore(ms: number): RequestStore & { calls: string[]; applied: string[] } {
  const calls: string[] = [];
  const applied: string[] = [];
  const after =
    <T>(name: string, value: T) =>
    (): Promise<T> => {
      calls.push(name);
      if (ms === Infinity) return new Promise<T>(() => undefined);
      return new Promise<T>((resolve) =>
        setTimeout(() => {
          applied.push(name);
          resolve(value);
        }, ms),
      );
    };
  return {
    calls,
    applied,
    listUsers: after('listUsers', { users: [], nextCursor: null }),
    getUser: after('getUser', user),
    createUser: after('createUser', user),
    updateUser: after('updateUser', user),
    deleteUser: after('deleteUser', undefined),
  };
}

/** The contract's answer to what `p` rejects with. */
async function answerOf(p: Promise<unknown>) {
  const err = await p.then(
    () => assert.fail('answered in time'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CedargateError, String(err));
  return errorResponse(err);
}

describe('storeWithinTimeout', () => {
  it('passes on what a store answers within the budget', async () => {
    const store = storeWithinTimeout(slowStore(1), 5_000);
    assert.equal(await store.getUser(T, U), user);
    assert.equal(await store.updateUser(T, U, { name: 'N' }, 1, 'g'), user);
    assert.equal(await store.deleteUser(T, U, undefined, undefined), undefined);
  });

  it('a write past the budget: 503 unavailable, Retry-After, may have been applied, retry', async () => {
    const slow = slowStore(Infinity);
    const store = storeWithinTimeout(slow, 30);
    for (const write of [
      () => store.createUser(T, { name: 'N', email: 'n@x.test', roles: ['user'] }),
      () => store.updateUser(T, U, { name: 'N' }, undefined, undefined),
      () => store.deleteUser(T, U, undefined, undefined),
    ]) {
      const r = await answerOf(write());
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.body.code, 'unavailable');
      assert.match(
        r.body.message,
        /did not answer the write within 30 ms: it may have been applied/,
      );
      assert.deepEqual(r.body.details, {
        may_have_been_applied: true,
        reason: 'store_timeout',
        retry: RETRY_UNCONFIRMED,
      });
    }
    assert.deepEqual(slow.calls, ['createUser', 'updateUser', 'deleteUser']);
  });

  it('a read past the budget: 503 unavailable, Retry-After, nothing said to be applied', async () => {
    const store = storeWithinTimeout(slowStore(Infinity), 30);
    for (const read of [
      () => store.getUser(T, U),
      () => store.listUsers(T, { limit: 10, cursor: undefined }),
    ]) {
      const r = await answerOf(read());
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.body.code, 'unavailable');
      assert.equal(r.body.message, 'the users store did not answer within 30 ms');
      assert.deepEqual(r.body.details, { reason: 'store_timeout' });
    }
  });

  it("one budget per request: a write after a slow read has only the read's remainder", async () => {
    let now = 1_000;
    const slow = slowStore(Infinity);
    const store = storeWithinTimeout(slow, 4_000, () => now);
    // The read took 3.99 s of the 4 (the clock moved on): the write gets what is left, not 4 s.
    now += 3_990;
    const started = process.hrtime.bigint();
    const r = await answerOf(store.updateUser(T, U, { name: 'N' }, 1, 'g'));
    const tookMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(r.status, 503);
    assert.ok(tookMs < 2_000, `${tookMs} ms: the write waited a whole budget`);
  });

  it('a store that answers after the 503 goes on to apply the write, and nothing is thrown unhandled', async () => {
    const slow = slowStore(60);
    const store = storeWithinTimeout(slow, 10);
    const r = await answerOf(store.createUser(T, { name: 'N', email: 'n@x.test', roles: [] }));
    assert.equal(r.body.details?.['may_have_been_applied'], true);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(slow.applied, ['createUser']);
  });
});
