/**
 * Issue 16 item 4 through the real `start`: /status tells the truth after a broken policy edit
 * is reverted, a log line says the files are good again, and the backend's allowed roles follow
 * the same reload as the sidecar's policies (no 422 from the backend for a role the sidecar
 * already decides on).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { jsonLogLines, shippedPolicies, tempDir } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

interface Status {
  policies: {
    live: { version: string; roles: string[] };
    lastReload: { ok: boolean; problems: unknown[] } | null;
  };
}

async function status(s: Stack): Promise<Status> {
  return (await (await fetch(`${s.adminUrl}/status`)).json()) as Status;
}

function logLines(s: Stack): Record<string, unknown>[] {
  return jsonLogLines(s.process.output());
}

describe('/status after a broken edit is reverted (issue 16 item 4)', () => {
  const dir = tempDir('cedargate-revert-');
  let s: Stack;

  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    s = await startStack({ policyDir: dir.path, env: { LOG_LEVEL: 'info' } });
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  it('reverting to the last good content clears lastReload.ok=false and logs that the files are good again', async () => {
    const before = await status(s);
    const file = join(dir.path, 'admins.cedar');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}\npermit (principal, action, resource) when { nonsense };\n`);
    await waitFor(
      async () => (await status(s)).policies.lastReload?.ok === false,
      15_000,
      'the broken edit to be refused',
    );
    writeFileSync(file, good);
    await waitFor(
      async () => (await status(s)).policies.lastReload?.ok === true,
      15_000,
      `lastReload.ok to turn true after the revert: ${JSON.stringify((await status(s)).policies.lastReload)}`,
    );
    const after = await status(s);
    assert.equal(after.policies.live.version, before.policies.live.version, 'the same set serves');
    assert.deepEqual(after.policies.lastReload?.problems, []);
    const good_again = logLines(s).filter(
      (l) => typeof l['msg'] === 'string' && /good again/.test(l['msg']),
    );
    assert.equal(good_again.length, 1, s.process.output());
    assert.equal(good_again[0]?.['version'], before.policies.live.version);
  });
});

describe('start: the backend follows the sidecar reload of the schema roles (issue 16 item 4)', () => {
  const dir = tempDir('cedargate-newrole-');
  let s: Stack;
  let tenant: string;
  let ownerToken: string;
  let uma: User;

  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    // A long poll: the sidecar picks the change up through fs.watch; a backend that only
    // polled would not see it for a minute.
    const t = await startTenantStack('newrole', {
      policyDir: dir.path,
      env: { POLICY_POLL_MS: '60000' },
    });
    ({ stack: s, tenantId: tenant, ownerToken } = t);
    [{ user: uma }] = await t.seed(['Uma', ['user']]);
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  it('the first request using a new role after /status shows it is not 422 from the backend', async () => {
    const schemaPath = join(dir.path, 'schema.cedarschema');
    const schema = readFileSync(schemaPath, 'utf8');
    const added = schema.replace(
      'entity Role enum ["admin", "user", "viewer"];',
      'entity Role enum ["admin", "user", "viewer", "auditor"];',
    );
    assert.notEqual(added, schema, 'the schema names the three shipped roles');
    writeFileSync(schemaPath, added);
    await waitFor(
      async () => (await status(s)).policies.live.roles.includes('auditor'),
      15_000,
      'the schema with auditor to be live',
    );
    s.recorder.clear();
    const r = await s.call('PUT', `/v1/users/${uma.id}`, {
      token: ownerToken,
      tenant,
      body: { roles: ['user', 'auditor'] },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([...r.body.roles].sort(), ['auditor', 'user']);
    assert.equal(s.recorder.forwarded().filter((f) => f.method === 'PUT').length, 1);
  });
});
