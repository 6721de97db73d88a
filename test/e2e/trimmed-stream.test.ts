/**
 * Issue 22 item 0: a replica that fell behind while the change stream was trimmed past it must
 * notice the gap before it decides anything — drop its caches, reload the revocations, say so —
 * and never honour a revoked token, a demoted admin or a deleted user.
 *
 * The sequence, exactly: EVENT_STREAM_MAXLEN=1000; replicas B and C are paused (SIGSTOP); through
 * A the owner demotes admin X, deletes user U, `token revoke --sub V`, then makes 1,500 renames,
 * so the stream no longer holds any of the three; a request with V's token is sent to B while it
 * is still paused; B and C resume (SIGCONT).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { assertError } from '../helpers/contract.js';
import { jsonLogLines, runCli } from '../helpers/process.js';
import {
  skipWithoutRedis,
  startRedis,
  withRedisClient,
  type RunningRedis,
} from '../helpers/redis.js';
import { startReplicaSet, type Replica, type ReplicaSet } from '../helpers/replica-set.js';
import { callPort, createUserOnPort } from '../helpers/stack.js';

const RENAMES = 1_500;
const RENAME_LOOPS = 6;

interface ClusterStatus {
  caches_dropped_for_lost_events: number;
  last_loss: { reason: string } | null;
  revoked: { jtis: number; subjects: number };
}

describe('a stream trimmed past a paused replica', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let set: ReplicaSet;
  let a: Replica, b: Replica, c: Replica;
  const tok = {} as Record<'owner' | 'x' | 'u' | 'v', string>;
  const users = {} as Record<'x' | 'u' | 'v', User>;
  const targets: User[] = [];

  before(async () => {
    redis = await startRedis();
    set = await startReplicaSet({
      redisUrl: redis.url,
      env: { EVENT_STREAM_MAXLEN: '1000' },
      replicas: [
        { name: 'A' },
        { name: 'B' },
        // C keeps users ten minutes: only an event (or a drop) can explain a changed decision.
        { name: 'C', env: { USER_CACHE_TTL_MS: '600000' } },
      ],
    });
    [a, b, c] = set.replicas as [Replica, Replica, Replica];
    tok.owner = await set.token(set.ownerId);
    const mk = (name: string, roles: string[]) =>
      createUserOnPort(a.port, set.tenantId, tok.owner, name, roles);
    users.x = await mk('Xavier', ['admin']);
    users.u = await mk('Ursula', ['viewer']);
    users.v = await mk('Victor', ['user']);
    for (let i = 0; i < RENAME_LOOPS; i++) targets.push(await mk(`Target${i}`, ['user']));
    tok.x = await set.token(users.x.id);
    tok.u = await set.token(users.u.id);
    tok.v = await set.token(users.v.id);
  });

  after(async () => {
    for (const r of [b, c]) r?.proc.child.kill('SIGCONT');
    await set?.stop();
    await redis?.stop();
  });

  it('B refuses the revoked token and C the demoted admin and the deleted user, and both say events were lost', async () => {
    // Warm the caches the stale answers would come from.
    assert.equal((await b.call('GET', `/v1/users/${users.v.id}`, tok.v)).status, 200);
    const t0 = targets[0] as User;
    assert.equal((await c.call('PUT', `/v1/users/${t0.id}`, tok.x, { name: 'warm' })).status, 200);
    assert.equal((await c.call('GET', `/v1/users/${t0.id}`, tok.u)).status, 200);

    for (const r of [b, c]) r.proc.child.kill('SIGSTOP');

    const demoted = await a.call('PUT', `/v1/users/${users.x.id}`, tok.owner, { roles: ['user'] });
    assert.equal(demoted.status, 200, demoted.text);
    const deleted = await a.call('DELETE', `/v1/users/${users.u.id}`, tok.owner);
    assert.equal(deleted.status, 204, deleted.text);
    const revoked = await runCli(['token', 'revoke', '--sub', users.v.id], set.env);
    assert.equal(revoked.code, 0, revoked.stderr);
    // Sent after the revocation was acknowledged; it waits in B's socket while B is paused (on a
    // connection of its own: B's keep-alive timer would close a reused one when B resumes).
    const queued = callPort(b.port, 'GET', `/v1/users/${users.v.id}`, {
      token: tok.v,
      tenant: set.tenantId,
      ownConnection: true,
    });

    await Promise.all(
      targets.map(async (t, i) => {
        for (let n = 0; n < RENAMES / RENAME_LOOPS; n++) {
          const r = await a.call('PUT', `/v1/users/${t.id}`, tok.owner, { name: `T${i} ${n}` });
          assert.equal(r.status, 200, r.text);
        }
      }),
    );
    // The precondition: none of the three changes is on the stream any more.
    const kinds = await withRedisClient(redis.port, async (client) => {
      const entries = await client.sendCommand<[string, string[]][]>([
        ...['XRANGE', 'cedargate:events', '-', '+'],
      ]);
      return entries.map(([, fields]) => fields.join(' '));
    });
    assert.ok(kinds.length < RENAMES, `the stream was not trimmed (${kinds.length} entries)`);
    for (const id of [users.x.id, users.u.id, users.v.id]) {
      assert.ok(!kinds.some((k) => k.includes(id)), `the stream still holds an entry of ${id}`);
    }

    for (const r of [b, c]) r.proc.child.kill('SIGCONT');

    assertError(await queued, 401, 'unauthenticated', 'B, the request queued during the pause');
    assertError(
      await b.call('GET', `/v1/users/${users.v.id}`, tok.v),
      401,
      'unauthenticated',
      'B, after the pause',
    );
    assertError(
      await c.call('PUT', `/v1/users/${t0.id}`, tok.x, { name: 'no' }),
      403,
      'forbidden',
      'C, the demoted admin renaming',
    );
    assertError(
      await c.call('GET', `/v1/users/${t0.id}`, tok.u),
      401,
      'unauthenticated',
      'C, the deleted user reading',
    );

    for (const r of [b, c]) {
      const { cluster } = (await r.admin<{ cluster: ClusterStatus }>('/status')).body;
      assert.ok(
        cluster.caches_dropped_for_lost_events >= 1,
        `${r.name}: ${JSON.stringify(cluster)}`,
      );
      assert.match(cluster.last_loss?.reason ?? '', /trimmed/, r.name);
      assert.ok(cluster.revoked.subjects >= 1, `${r.name} lists no revoked subject`);
      const dropped = /^cedargate_event_caches_dropped_total (\d+)/m.exec(await r.metrics());
      assert.ok(Number(dropped?.[1]) >= 1, `${r.name}: cedargate_event_caches_dropped_total`);
      const lines = jsonLogLines(r.proc.output()).filter((l) =>
        String(l.msg).startsWith('change events were lost'),
      );
      assert.ok(lines.length >= 1, `${r.name} logged no "change events were lost" line`);
    }
    // A, which followed all along, lost nothing.
    const aStatus = (await a.admin<{ cluster: ClusterStatus }>('/status')).body.cluster;
    assert.equal(aStatus.caches_dropped_for_lost_events, 0);
  });
});
