/**
 * security.md line 21: a reload with a broken policy file keeps the last good set serving, and
 * `/status` and the log say what broke (file:line:column); a broken set at start stops the
 * process with a non-zero exit and the same pointer.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';
import { freePort, waitFor } from '../helpers/net.js';
import { shippedPolicies, startCli, tempDir } from '../helpers/process.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { adminJson, assertError } from '../helpers/contract.js';

/** A deny-everything forbid, broken on line 4 (a missing comma), column 3. */
const SYNTAX_ERROR = `@id("lockdown")
forbid (
  principal
  action,
  resource
);
`;
/** Parses, but does not validate: User has no attribute `nope` (line 3). */
const INVALID = `@id("lockdown")
forbid (principal, action, resource)
when { principal.nope == 1 };
`;
const GOOD = `@id("lockdown")
@notice("Locked down for maintenance.")
forbid (principal, action == Cedargate::Action::"users:list", resource);
`;

async function lastReload(adminUrl: string): Promise<{
  ok: boolean;
  problems: { file: string; line: number; column: number; message: string }[];
} | null> {
  return (await adminJson(adminUrl, '/status')).policies.lastReload;
}

describe('policy reloads with broken files (security.md 21)', () => {
  const dir = tempDir('cedargate-policies-');
  let s: Stack;
  let tA: string;
  let tok: string;

  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    ({
      stack: s,
      tenantId: tA,
      ownerToken: tok,
    } = await startTenantStack('acme', { policyDir: dir.path, env: { POLICY_POLL_MS: '200' } }));
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  const list = () => s.call('GET', '/v1/users', { token: tok, tenant: tA });

  it('a file that does not parse: refused, the last good set serves, /status and the log name file:line:column', async () => {
    const before = (await adminJson(s.adminUrl, '/status')).policies.live.version;
    writeFileSync(join(dir.path, 'lockdown.cedar'), SYNTAX_ERROR);
    await waitFor(
      async () => (await lastReload(s.adminUrl))?.ok === false,
      10_000,
      'a refused reload',
    );
    const status = await adminJson(s.adminUrl, '/status');
    assert.equal(status.policies.live.version, before, 'the live set did not change');
    const problem = status.policies.lastReload.problems[0];
    assert.ok(problem, JSON.stringify(status.policies.lastReload));
    assert.match(problem.file, /lockdown\.cedar$/);
    assert.equal(problem.line, 4, JSON.stringify(problem));
    assert.ok(problem.column >= 1, JSON.stringify(problem));
    await waitFor(
      () => /lockdown\.cedar:4:\d+/.test(s.process.output()),
      5000,
      'the log line naming lockdown.cedar:4',
    );
    // The old set decides: the broken deny-everything forbid has no effect.
    assert.equal((await list()).status, 200);
    assert.equal(s.process.child.exitCode, null);
  });

  it('a file that parses but does not validate: refused the same way', async () => {
    writeFileSync(join(dir.path, 'lockdown.cedar'), INVALID);
    await waitFor(
      async () => (await lastReload(s.adminUrl))?.problems.some((p) => p.line === 3) === true,
      10_000,
      'the validation refusal',
    );
    // The log line may reach us a moment after /status changed.
    await waitFor(
      () => /lockdown\.cedar:3:\d+/.test(s.process.output()),
      5000,
      'the log line naming lockdown.cedar:3',
    );
    assert.equal((await list()).status, 200);
  });

  it('control: once the file is fixed it loads, and its forbid applies', async () => {
    writeFileSync(join(dir.path, 'lockdown.cedar'), GOOD);
    // The live set must hold the lockdown policy: a watch event on the write's truncation can
    // reload an empty file first, which is also a good reload (lastReload.ok) without it.
    await waitFor(
      async () => {
        const { policies } = await adminJson(s.adminUrl, '/status');
        return policies.lastReload?.ok === true && policies.live.policyIds.includes('lockdown');
      },
      10_000,
      'the good reload',
    );
    s.recorder.clear();
    const r = await list();
    assertError(r, 403, 'forbidden');
    assert.deepEqual(r.body.notices, ['Locked down for maintenance.']);
    assert.equal(s.recorder.forwarded().length, 0);
    rmSync(join(dir.path, 'lockdown.cedar'));
    await waitFor(async () => (await list()).status === 200, 10_000, 'the lockdown lifted');
  });

  it('a broken set at start: `start` and `sidecar` refuse to start, exit non-zero, and say where', async () => {
    const broken = tempDir('cedargate-broken-');
    try {
      cpSync(shippedPolicies, broken.path, { recursive: true });
      writeFileSync(join(broken.path, 'lockdown.cedar'), SYNTAX_ERROR);
      const dataDir = join(broken.path, 'data');
      const { jwksPath } = await ensureDevKeys(dataDir);
      const base = { HOST: '127.0.0.1', DATA_DIR: dataDir, POLICY_DIR: broken.path };
      for (const [cmd, extra] of [
        ['start', { BACKEND_PORT: String(await freePort()) }],
        [
          'sidecar',
          {
            JWKS_FILE: jwksPath,
            JWT_ISSUER: 'cedargate-dev',
            JWT_AUDIENCE: 'cedargate',
            UPSTREAM_URL: 'http://127.0.0.1:9',
          },
        ],
      ] as const) {
        const p = startCli([cmd], {
          ...base,
          ...extra,
          PORT: String(await freePort()),
          ADMIN_PORT: String(await freePort()),
        });
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
        const code = await p.exited;
        clearTimeout(timer);
        assert.notEqual(code, 0, `${cmd} started with a broken policy set:\n${p.output()}`);
        assert.notEqual(code, 'SIGKILL', `${cmd} hung instead of refusing`);
        assert.match(p.output(), /lockdown\.cedar:4:\d+/, `${cmd}: ${p.output()}`);
      }
    } finally {
      broken.remove();
    }
  });
});
