/**
 * `policy replay` as a command: stdin or a file, exit 0 when nothing changes, 1 when something
 * does, 2 on bad input (no --against, a log that cannot be read or holds no decision, a set that
 * does not load), and malformed lines counted and said.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const dirs = policyDirs('cedargate-replay-cli-');

const OWNER = { id: 'o', tenantId: 't', roles: ['admin'], isOwner: true };
const ADMIN = { id: 'a', tenantId: 't', roles: ['admin'], isOwner: false };
const listBy = (principal: typeof OWNER, id: string, decision = 'allow') =>
  JSON.stringify({
    level: 30,
    msg: 'decision',
    request_id: id,
    decision,
    policies: decision === 'allow' ? ['tenant-members-list-users'] : [],
    policy_version: 'v0',
    request: {
      principal,
      action: 'users:list',
      resource: { type: 'Tenant', id: 't' },
      context: {},
    },
  });

/** Runs the command with `input` on stdin. */
const replayStdin = (args: string[], input: string) => policyCli(['replay', ...args], {}, input);

describe('policy replay (CLI)', () => {
  const log = [
    '{"level":30,"msg":"sidecar listening"}',
    listBy(OWNER, 'r1'),
    'garbage',
    listBy(ADMIN, 'r2'),
  ].join('\n');

  it('reads stdin; the same set changes nothing (exit 0); malformed lines are counted', async () => {
    const r = await replayStdin(['--against', shippedPolicies], log);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /2 logged decisions replayed from 4 lines \(1 not decisions, 0 refused before any decision, 1 malformed\)/,
    );
    assert.match(r.stdout, /1 malformed line skipped \(line 3: not JSON\)/);
    assert.match(r.stdout, /^no logged request changes its answer$/m);
  });

  it('a file, against a set that changes an answer: exit 1, the class and its request ids', async () => {
    const policies = dirs.copyOfShipped();
    // Only owners may list.
    writeFileSync(
      join(policies, 'zz-owners-list.cedar'),
      '@id("only-owners-list")\n@notice("Only the owner may list users.")\nforbid (principal, action == Cedargate::Action::"users:list", resource) unless { principal.isOwner };\n',
    );
    const file = join(dirs.temp(), 'day.log');
    writeFileSync(file, log);
    const r = await policyCli(['replay', file, '--against', policies]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^1 logged request would be answered differently, in 1 class:$/m);
    assert.match(
      r.stdout,
      /^1\. users:list by a user who holds admin and is not the owner on their own tenant: allow → deny, denied by only-owners-list; was allowed by tenant-members-list-users$/m,
    );
    assert.match(r.stdout, /^ {3}1 request: r2$/m);
    assert.match(r.stdout, /after: +deny by only-owners-list — "Only the owner may list users\."/);
  });

  it("a read logged without its target's facts: replayed against a set that reads none of them, unread (exit 1) against one that does", async () => {
    const bareRead = JSON.stringify({
      level: 30,
      msg: 'decision',
      request_id: 'b1',
      decision: 'allow',
      policies: ['tenant-members-read-users'],
      policy_version: 'v0',
      request: {
        principal: ADMIN,
        action: 'users:read',
        resource: { type: 'User', id: 'o', tenantId: 't', roles: [], isOwner: false },
        context: {},
      },
      target_facts: 'unread',
    });
    const same = await replayStdin(['--against', shippedPolicies, '--json'], bareRead);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    const report = JSON.parse(same.stdout) as { unread: unknown; replayed: number };
    assert.deepEqual(report.unread, { count: 0, firstRequestId: null });
    assert.equal(report.replayed, 1);
    const policies = dirs.copyOfShipped();
    writeFileSync(
      join(policies, 'zz-owner-hidden.cedar'),
      '@id("owner-hidden")\n@notice("The owner is hidden.")\nforbid (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User) when { resource.isOwner } unless { principal.isOwner };\n',
    );
    const reads = await replayStdin(['--against', policies], bareRead);
    assert.equal(reads.code, 1, reads.stdout + reads.stderr);
    assert.match(
      reads.stdout,
      /^1 logged request was decided without the target's facts \(no policy of the logged set read them\); the candidate's policies read them: not replayed \(e\.g\. b1\)$/m,
    );
    assert.match(reads.stdout, /^no logged request changes its answer$/m);
  });

  it('bad input → exit 2 with the reason', async () => {
    const noAgainst = await policyCli(['replay', '-']);
    assert.equal(noAgainst.code, 2);
    assert.match(noAgainst.stderr, /missing --against DIR/);
    const missing = await policyCli(['replay', '/no/such.log', '--against', shippedPolicies]);
    assert.equal(missing.code, 2);
    assert.match(missing.stdout, /^\/no\/such\.log: ENOENT$/m);
    const empty = await replayStdin(['--against', shippedPolicies], '{"msg":"other"}\n');
    assert.equal(empty.code, 2);
    assert.match(empty.stdout, /no replayable decision line/);
    const dir = dirs.copyOfShipped();
    writeFileSync(join(dir, 'bad.cedar'), 'permit (');
    const broken = await replayStdin(['--against', dir], log);
    assert.equal(broken.code, 2);
    assert.match(broken.stdout, /bad\.cedar:1:\d+: /);
    assert.match(broken.stdout, /the policies do not load/);
  });
});
