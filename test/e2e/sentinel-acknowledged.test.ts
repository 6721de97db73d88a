/**
 * What Sentinel acknowledges (issue 26 item 5), on real processes: a primary, one replica, three
 * redis-sentinel, `cedargate start` given REDIS_SENTINELS. The replica's link is cut (it stays up
 * and answers the sentinels, but no longer receives the primary's writes), then an owner demotes
 * an admin, deletes a user and revokes a token, and the primary is SIGKILLed: the sentinels
 * promote the replica, which never saw those writes.
 *
 * The client must never have been told a write held that the failover then undid: each write is
 * either acknowledged (2xx, exit 0) and still there afterwards, or answered 503 `unavailable`
 * with `Retry-After` and `details.may_have_been_applied` — and then the same request, retried
 * once the store can confirm writes again, converges on what the client asked for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
import {
  cutReplication,
  replicationLinkUp,
  skipWithoutSentinel,
  type RunningRedis,
  type RunningSentinels,
} from '../helpers/redis.js';
import { startSentinelStack, type SentinelStack } from '../helpers/sentinel-stack.js';
import type { Reply, Stack } from '../helpers/stack.js';

const MASTER = 'cedargate-acks';

/** The answer to a write no replica confirmed: not acknowledged, and honest about it. */
function assertUnconfirmed(r: Reply, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.text}`);
  assert.equal(r.body.code, 'unavailable', `${what}: ${r.text}`);
  assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/, `${what}: Retry-After`);
  assert.equal(r.body.details?.['may_have_been_applied'], true, `${what}: ${r.text}`);
  assert.equal(r.body.details?.['reason'], 'no_replica_confirmed', `${what}: ${r.text}`);
}

/** Sends `send` again, waiting Retry-After each time, until it is answered with anything but 503. */
async function retryUntilAnswered(send: () => Promise<Reply>, what: string): Promise<Reply> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await send();
    if (r.status !== 503) return r;
    assert.equal(r.body.code, 'unavailable', `${what}: ${r.text}`);
    if (Date.now() > deadline) throw new Error(`${what} still answers 503: ${r.text}`);
    const seconds = Number(r.headers.get('retry-after') ?? '1');
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
}

describe(
  'Sentinel: only what a replica holds is acknowledged',
  { skip: skipWithoutSentinel() },
  () => {
    let primary: RunningRedis;
    let replica: RunningRedis;
    let sentinels: RunningSentinels;
    let stack: Stack;
    let env: Record<string, string>;
    let started: SentinelStack | undefined;

    before(async () => {
      started = await startSentinelStack(MASTER);
      ({ primary, replica, sentinels, stack, env } = started);
    });
    after(async () => {
      await started?.stop();
    });

    it('a demotion, a delete and a revocation no replica confirmed are not acknowledged; retried, they hold', async () => {
      const { tenantId, owner } = await stack.createTenant('Acks');
      const ownerTok = await stack.token(tenantId, owner.id);
      const adam = await stack.createUser(tenantId, ownerTok, 'Adam', ['admin']);
      const vera = await stack.createUser(tenantId, ownerTok, 'Vera', ['user']);
      const walt = await stack.createUser(tenantId, ownerTok, 'Walt', ['user']);
      const adamTok = await stack.token(tenantId, adam.id);
      const asOwner = { token: ownerTok, tenant: tenantId };
      const renameWalt = (name: string) =>
        stack.call('PUT', `/v1/users/${walt.id}`, {
          token: adamTok,
          tenant: tenantId,
          body: { name },
        });
      let r = await renameWalt('Walt 1');
      assert.equal(r.status, 200, `an admin may rename a user before the cut: ${r.text}`);

      await cutReplication(primary.port);
      await waitFor(
        async () => !(await replicationLinkUp(replica.port)),
        20_000,
        'the replication link cut',
      );

      const demote = () =>
        stack.call('PUT', `/v1/users/${adam.id}`, { ...asOwner, body: { roles: ['user'] } });
      const remove = () => stack.call('DELETE', `/v1/users/${vera.id}`, asOwner);
      const demotion = await demote();
      const deletion = await remove();
      const revoke = await runCli(['token', 'revoke', '--jti', 'jti-during-cut'], env);
      process.stdout.write(
        `# during the cut: demotion ${demotion.status}, delete ${deletion.status}, ` +
          `token revoke exit ${revoke.code}\n`,
      );
      await primary.kill();
      await waitFor(
        async () => (await sentinels.masterPort()) === replica.port,
        60_000,
        'sentinels promoting the replica',
      );

      // Whatever was acknowledged is still there on the promoted replica.
      const lost: string[] = [];
      if (demotion.status === 200) {
        const w = await renameWalt('Walt after the failover');
        if (w.status !== 403)
          lost.push(`demotion answered 200, yet Adam writes again (${w.status})`);
      }
      if (deletion.status === 204) {
        const g = await stack.call('GET', `/v1/users/${vera.id}`, asOwner);
        if (g.status !== 404) lost.push(`delete answered 204, yet Vera is back (${g.status})`);
      }
      assert.deepEqual(lost, [], 'acknowledged, then gone after the failover');
      // Not acknowledged, and saying so: the write may or may not have been applied.
      assertUnconfirmed(demotion, 'the demotion no replica confirmed');
      assertUnconfirmed(deletion, 'the delete no replica confirmed');
      assert.equal(revoke.code, 1, `token revoke no replica confirmed: ${revoke.stdout}`);
      assert.equal(revoke.stdout, '', 'nothing printed as recorded');
      assert.match(revoke.stderr, /no replica confirmed/);
      assert.match(revoke.stderr, /run the same command again/);

      // The killed primary comes back (empty, as a restarted pod does) and the sentinels make it
      // a replica of the new master, which then has a replica to confirm writes again.
      await primary.restart();
      await waitFor(
        () => replicationLinkUp(primary.port),
        60_000,
        'the old primary replicating from the promoted one',
      );

      // The same requests again, as a client told 503 with Retry-After does.
      const demoted = await retryUntilAnswered(demote, 'the demotion retried');
      assert.equal(demoted.status, 200, `the retried demotion converges: ${demoted.text}`);
      assert.deepEqual(demoted.body.roles, ['user']);
      const deleted = await retryUntilAnswered(remove, 'the delete retried');
      // 204 when the first attempt was lost, 404 when it held (docs/contract.md §4).
      assert.ok([204, 404].includes(deleted.status), `the retried delete: ${deleted.text}`);
      if (deleted.status === 404) assert.equal(deleted.body.code, 'not_found', deleted.text);
      const revokedAgain = await runCli(['token', 'revoke', '--jti', 'jti-during-cut'], env);
      assert.equal(revokedAgain.code, 0, `token revoke again: ${revokedAgain.stderr}`);

      // What the client now knows holds: Adam no longer writes, Vera is gone.
      r = await stack.call('GET', `/v1/users/${adam.id}`, asOwner);
      assert.deepEqual([r.status, r.body.roles], [200, ['user']], r.text);
      r = await renameWalt('Walt 2');
      assert.equal(r.status, 403, `the demoted admin writes again: ${r.text}`);
      r = await stack.call('GET', `/v1/users/${vera.id}`, asOwner);
      assert.equal(r.status, 404, `the deleted user is back: ${r.text}`);
    });
  },
);
