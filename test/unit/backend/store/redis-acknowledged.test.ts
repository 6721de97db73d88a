/**
 * The Redis store when its writes must be confirmed by a replica (under Sentinel, `WAIT 1 <ms>`
 * after each write script): on a real redis-server with no replica, WAIT answers 0, and a write
 * is then not acknowledged — 503 `unavailable` with Retry-After and `may_have_been_applied`,
 * for it was applied on the master and may or may not survive a failover. With a replica
 * attached, the same writes are acknowledged. A script that wrote nothing (412, 404, 409) waits
 * for no replica and answers as it would anyway.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openRedisStore } from '../../../../src/backend/store/redis.js';
import type { UserStore } from '../../../../src/backend/store/store.js';
import { CedargateError, UnavailableError } from '../../../../src/errors.js';
import { waitFor } from '../../../helpers/net.js';
import {
  replicationLinkUp,
  skipWithoutRedis,
  startRedis,
  waitCalls,
  withRedisClient,
  type RunningRedis,
} from '../../../helpers/redis.js';

const owner = { name: 'Owner', email: 'owner@acks.example', roles: ['admin'] };
/** Short, so that each unconfirmed write costs the test little; any value behaves the same. */
const ACK_MS = 50;

/** The unconfirmed write's answer, whole. */
function unconfirmed(e: unknown): boolean {
  assert.ok(e instanceof UnavailableError, String(e));
  assert.equal(e.code, 'unavailable');
  assert.equal(e.status, 503);
  assert.ok((e.retryAfterSeconds ?? 0) >= 1, 'Retry-After');
  assert.equal(e.details?.['may_have_been_applied'], true);
  assert.equal(e.details?.['reason'], 'no_replica_confirmed');
  assert.match(String(e.details?.['retry']), /same request again/);
  assert.match(e.message, /no replica confirmed/);
  return true;
}

function codeOf(expected: string) {
  return (e: unknown) => e instanceof CedargateError && e.code === expected;
}

describe('redis store: writes confirmed by a replica', { skip: skipWithoutRedis() }, () => {
  let master: RunningRedis;
  /** Writes without waiting for a replica: sets up the data and reads what the master holds. */
  let plain: UserStore;
  /** The store under test: its writes wait for a replica. */
  let acked: UserStore;
  let tenantId: string;
  const prefix = `acks-${randomUUID()}:`;

  before(async () => {
    master = await startRedis();
    plain = await openRedisStore(master.url, { prefix });
    acked = await openRedisStore(master.url, { prefix, replicaAckTimeoutMs: ACK_MS });
    tenantId = (await plain.createTenant('Acks', owner)).tenant.id;
  });
  after(async () => {
    await acked?.close();
    await plain?.close();
    await master?.stop();
  });

  it('no replica confirms (WAIT answers 0): update, delete and create answer 503, and were applied', async () => {
    const user = await plain.createUser(tenantId, {
      name: 'Adam',
      email: 'adam@acks.example',
      roles: ['admin'],
    });
    const waitsBefore = await waitCalls(master.port);

    await assert.rejects(acked.updateUser(tenantId, user.id, { roles: ['user'] }, 1), unconfirmed);
    // Applied on the master all the same: the client was told it may have been.
    assert.deepEqual((await plain.getUser(tenantId, user.id))?.roles, ['user']);
    // Retried with the same patch (no If-Match): converges on the same roles.
    await assert.rejects(acked.updateUser(tenantId, user.id, { roles: ['user'] }), unconfirmed);
    assert.deepEqual((await plain.getUser(tenantId, user.id))?.roles, ['user']);

    await assert.rejects(acked.deleteUser(tenantId, user.id), unconfirmed);
    assert.equal(await plain.getUser(tenantId, user.id), null);
    // A retried delete of a user the first attempt did delete: 404.
    await assert.rejects(acked.deleteUser(tenantId, user.id), codeOf('not_found'));

    const email = 'vera@acks.example';
    await assert.rejects(
      acked.createUser(tenantId, { name: 'Vera', email, roles: ['user'] }),
      unconfirmed,
    );
    // A retried create the first attempt made: 409, the email is taken.
    await assert.rejects(
      acked.createUser(tenantId, { name: 'Vera', email, roles: ['user'] }),
      codeOf('conflict'),
    );
    // One WAIT per write that wrote; the refused ones (404, 409) waited for nothing.
    assert.equal((await waitCalls(master.port)) - waitsBefore, 4);
  });

  it('a write refused by its own check (412) waits for no replica and answers 412', async () => {
    const user = await plain.createUser(tenantId, {
      name: 'Stale',
      email: 'stale@acks.example',
      roles: ['user'],
    });
    const waitsBefore = await waitCalls(master.port);
    await assert.rejects(
      acked.updateUser(tenantId, user.id, { name: 'x' }, 7),
      codeOf('precondition_failed'),
    );
    await assert.rejects(acked.deleteUser(tenantId, user.id, 7), codeOf('precondition_failed'));
    assert.equal(await waitCalls(master.port), waitsBefore);
  });

  it('with a replica attached, the same writes are acknowledged once it holds them', async () => {
    const replica = await startRedis({ replicaOf: master.port });
    // As long as it takes a loaded machine: WAIT returns as soon as the replica confirms.
    const patient = await openRedisStore(master.url, {
      prefix,
      replicaAckTimeoutMs: 10_000,
    });
    try {
      await waitFor(() => replicationLinkUp(replica.port), 20_000, 'replica in sync');
      const user = await patient.createUser(tenantId, {
        name: 'Walt',
        email: 'walt@acks.example',
        roles: ['admin'],
      });
      const updated = await patient.updateUser(tenantId, user.id, { roles: ['user'] }, 1);
      assert.deepEqual(updated.roles, ['user']);
      // Acknowledged means the replica has it.
      const roles = await withRedisClient(replica.port, (c) =>
        c.hGet(`${prefix}{${tenantId}}:user:${user.id}`, 'roles'),
      );
      assert.equal(roles, '["user"]');
      await patient.deleteUser(tenantId, user.id);
      assert.equal(await plain.getUser(tenantId, user.id), null);
    } finally {
      await patient.close();
      await replica.stop();
    }
  });
});
