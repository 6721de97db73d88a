/**
 * security.md line 31 through the real `start`: a role retired from the schema while it runs
 * (hot reload) must not lock its holders away from their owner. The owner reads, fixes (PUT
 * roles) and deletes them; the decision line and the 403 name the roles that were left out;
 * the reload's log line and `/status` name the roles that disappeared.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { jsonLogLines, shippedPolicies, tempDir } from '../helpers/process.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

interface Status {
  policies: {
    live: { roles: string[] };
    retiredRoles?: string[];
    lastReload: { ok: boolean; retiredRoles?: string[] } | null;
  };
}

async function status(s: Stack): Promise<Status> {
  return (await (await fetch(`${s.adminUrl}/status`)).json()) as Status;
}

/** The process's JSON log lines whose `msg` matches. */
function logLines(s: Stack, msg: RegExp): Record<string, unknown>[] {
  return jsonLogLines(s.process.output()).filter(
    (l) => typeof l['msg'] === 'string' && msg.test(l['msg']),
  );
}

describe('a role retired from the schema while start runs (security.md 31)', () => {
  const dir = tempDir('cedargate-retire-');
  let s: Stack;
  let tenant: string;
  let ownerToken: string;
  let vic: User; // viewer only
  let val: User; // viewer and user
  let uma: User; // user
  let wes: User; // viewer and user, acting on himself
  let wesToken: string;
  /** Wes's `PUT {roles:["user"]}` on himself while viewer was still in the schema. */
  let wesDropBefore: number;

  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    // info: the decision lines are logged at info
    const t = await startTenantStack('retire', { policyDir: dir.path, env: { LOG_LEVEL: 'info' } });
    ({ stack: s, tenantId: tenant, ownerToken } = t);
    [{ user: vic }, { user: val }, { user: uma }, { user: wes, token: wesToken }] = await t.seed(
      ['Vic', ['viewer']],
      ['Val', ['viewer', 'user']],
      ['Uma', ['user']],
      ['Wes', ['viewer', 'user']],
    );
    wesDropBefore = (
      await s.call('PUT', `/v1/users/${wes.id}`, {
        token: wesToken,
        tenant,
        body: { roles: ['user'] },
      })
    ).status;

    const schemaPath = join(dir.path, 'schema.cedarschema');
    const schema = readFileSync(schemaPath, 'utf8');
    const retired = schema.replace(
      'entity Role enum ["admin", "user", "viewer"];',
      'entity Role enum ["admin", "user"];',
    );
    assert.notEqual(retired, schema, 'the schema names the three shipped roles');
    writeFileSync(schemaPath, retired);
    await waitFor(
      async () => !(await status(s)).policies.live.roles.includes('viewer'),
      5000,
      'the schema without viewer to be live',
    );
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });
  beforeEach(() => s.recorder.clear());

  it('the reload log line and /status name the retired role', async () => {
    const st = await status(s);
    assert.deepEqual(st.policies.live.roles, ['admin', 'user']);
    assert.deepEqual(st.policies.retiredRoles, ['viewer'], JSON.stringify(st.policies));
    assert.equal(st.policies.lastReload?.ok, true);
    assert.deepEqual(st.policies.lastReload?.retiredRoles, ['viewer']);
    const reloads = logLines(s, /^policies reloaded/);
    assert.equal(reloads.length, 1, s.process.output().slice(-2000));
    assert.deepEqual(reloads[0]?.['retiredRoles'], ['viewer']);
    assert.match(String(reloads[0]?.['msg']), /viewer/);
  });

  it('the owner reads a holder of the retired role; the decision line names the role left out where the read reads the target', async () => {
    const decisionLine = (requestId: string) => () =>
      logLines(s, /^decision$/).find((l) => l['request_id'] === requestId);
    // A plain read: the shipped users:read policies read nothing of the target but its id and
    // tenant, so it is decided without looking the target up (issue 25): no role of the target
    // was read, so none was left out, and the line says the target's facts were unread.
    const plain = await s.call('GET', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      headers: { 'x-request-id': 'req-retired-read' },
    });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(plain.body.roles, ['viewer'], 'the stored roles are shown as they are');
    // The decision line is written once the answer has gone out.
    const unread = decisionLine('req-retired-read');
    await waitFor(() => unread() !== undefined, 5000, 'the decision line');
    assert.equal(unread()?.['decision'], 'allow');
    assert.equal(unread()?.['target_facts'], 'unread');
    assert.equal(unread()?.['ignored_roles'], undefined);
    // A read with If-Match reads the target (its version is checked): its retired role is left
    // out of the decision, and the line names it.
    const etag = plain.headers.get('etag');
    assert.ok(etag, 'the read answers with an ETag');
    const checked = await s.call('GET', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      headers: { 'x-request-id': 'req-retired-read-if-match', 'if-match': etag },
    });
    assert.equal(checked.status, 200, checked.text);
    const read = decisionLine('req-retired-read-if-match');
    await waitFor(() => read() !== undefined, 5000, 'the decision line');
    assert.equal(read()?.['decision'], 'allow');
    assert.equal(read()?.['target_facts'], undefined);
    assert.deepEqual(read()?.['ignored_roles'], ['viewer']);
  });

  it('a denial involving the retired role says so in the 403, and is not forwarded', async () => {
    const umaToken = await s.token(tenant, uma.id);
    const r = await s.call('DELETE', `/v1/users/${vic.id}`, { token: umaToken, tenant });
    assertError(r, 403, 'forbidden');
    assert.deepEqual(r.body.details.ignored_roles, ['viewer'], r.text);
    assert.deepEqual(s.recorder.forwarded(), []);
  });

  it('the retired role cannot be granted again: 422 invalid_roles, not forwarded', async () => {
    const r = await s.call('PUT', `/v1/users/${uma.id}`, {
      token: ownerToken,
      tenant,
      body: { roles: ['user', 'viewer'] },
    });
    assertError(r, 422, 'invalid_roles');
    assert.deepEqual(r.body.details.invalid, ['viewer']);
    assert.deepEqual(s.recorder.forwarded(), []);
  });

  it('a holder may drop the retired role from himself (documented), and the permissions answer says so first', async () => {
    assert.equal(wesDropBefore, 403, 'before the retirement it was a change of his own roles');
    const perms = await s.call('GET', `/v1/users/${wes.id}/permissions`, {
      token: wesToken,
      tenant,
    });
    assert.equal(perms.status, 200, perms.text);
    const remove = (
      perms.body as unknown as { roles: { remove: Record<string, { allowed: boolean }> } }
    ).roles.remove;
    assert.deepEqual(Object.keys(remove).sort(), ['user', 'viewer'], perms.text);
    assert.equal(remove.user?.allowed, false, 'a live role of his own: still refused');
    assert.equal(remove.viewer?.allowed, true, perms.text);
    const r = await s.call('PUT', `/v1/users/${wes.id}`, {
      token: wesToken,
      tenant,
      body: { roles: ['user'] },
    });
    assert.equal(r.status, 200, 'the PUT does what the answer said');
    assert.deepEqual(r.body.roles, ['user']);
  });

  it('the owner fixes a holder (PUT roles) and deletes another', async () => {
    const fixed = await s.call('PUT', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      body: { roles: ['user'] },
    });
    assert.equal(fixed.status, 200, fixed.text);
    assert.deepEqual(fixed.body.roles, ['user']);
    const renamed = await s.call('PUT', `/v1/users/${val.id}`, {
      token: ownerToken,
      tenant,
      body: { name: 'Valerie' },
    });
    assert.equal(renamed.status, 200, renamed.text);
    const deleted = await s.call('DELETE', `/v1/users/${val.id}`, { token: ownerToken, tenant });
    assert.equal(deleted.status, 204, deleted.text);
    assert.deepEqual(
      s.recorder.forwarded().map((f) => f.method),
      ['PUT', 'PUT', 'DELETE'],
    );
    const gone = await s.call('GET', `/v1/users/${val.id}`, { token: ownerToken, tenant });
    assertError(gone, 404, 'not_found');
  });
});
