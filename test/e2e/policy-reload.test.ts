/**
 * Hot reload through the real sidecar: a valid edit is live within 2 s with no failed request
 * while traffic runs; a broken edit leaves the old set serving and /status naming the error;
 * a Kubernetes ConfigMap-style `..data` symlink swap reloads.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { shippedPolicies, tempDir } from '../helpers/process.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

const READ_BLOCK = `
@id("e2e-no-reads")
@notice("Reads are paused for maintenance.")
forbid (principal, action == Cedargate::Action::"users:read", resource);
`;

interface Status {
  policies: {
    live: { version: string; policyIds: string[] };
    lastReload: {
      ok: boolean;
      problems: Array<{ file: string; line: number; column: number; message: string }>;
    } | null;
  };
}

async function status(s: Stack): Promise<Status> {
  return (await (await fetch(`${s.adminUrl}/status`)).json()) as Status;
}

/** Sends reads in a loop until stopped; collects every status seen. */
function readLoop(
  s: Stack,
  token: string,
  tenant: string,
  id: string,
): { stop(): Promise<number[]> } {
  const statuses: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await s.call('GET', `/v1/users/${id}`, { token, tenant });
      statuses.push(r.status);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return statuses;
    },
  };
}

describe('policy hot reload (plain directory)', () => {
  const dir = tempDir('cedargate-policies-');
  let s: Stack;
  let tenant: string;
  let owner: User;
  let token: string;

  before(async () => {
    cpSync(shippedPolicies, dir.path, { recursive: true });
    const t = await startTenantStack('reload', { policyDir: dir.path });
    ({ stack: s, tenantId: tenant, owner, ownerToken: token } = t);
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  it('a valid edit is live within 2 s, and no request fails during the swap', async () => {
    const before = await status(s);
    const load = readLoop(s, token, tenant, owner.id);
    await new Promise((r) => setTimeout(r, 200));
    const edited = Date.now();
    writeFileSync(join(dir.path, 'maintenance.cedar'), READ_BLOCK);
    await waitFor(
      async () => (await s.call('GET', `/v1/users/${owner.id}`, { token, tenant })).status === 403,
      2000,
      'the new policy to be live',
    );
    const liveAfterMs = Date.now() - edited;
    await new Promise((r) => setTimeout(r, 200));
    const statuses = await load.stop();
    assert.ok(statuses.length > 10, `load ran (${statuses.length} requests)`);
    assert.ok(
      statuses.every((c) => c === 200 || c === 403),
      `only 200 (old set) or 403 (new set): ${[...new Set(statuses)].join(',')}`,
    );
    // Each request saw one whole set: once the new set answered, the old one never did again.
    const firstDeny = statuses.indexOf(403);
    assert.ok(firstDeny >= 0);
    assert.ok(
      statuses.slice(firstDeny).every((c) => c === 403),
      'no request after the swap saw the old set',
    );
    const denied = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant });
    assert.deepEqual(denied.body.notices, ['Reads are paused for maintenance.']);
    const after = await status(s);
    assert.notEqual(after.policies.live.version, before.policies.live.version);
    assert.ok(after.policies.live.policyIds.includes('e2e-no-reads'));
    process.stderr.write(`# policy edit live after ${liveAfterMs} ms\n`);
  });

  it('a broken edit is refused: the last good set keeps serving and /status names file:line:column', async () => {
    const good = await status(s);
    writeFileSync(
      join(dir.path, 'broken.cedar'),
      '@id("broken")\npermit (principal, action, resource)\nwhen { principal.nosuch == 1 ;\n',
    );
    await waitFor(
      async () => (await status(s)).policies.lastReload?.ok === false,
      5000,
      'the reload to fail',
    );
    const st = await status(s);
    assert.equal(st.policies.live.version, good.policies.live.version);
    const problem = st.policies.lastReload?.problems[0];
    assert.ok(problem, JSON.stringify(st.policies.lastReload));
    assert.match(problem.file, /broken\.cedar$/);
    assert.equal(problem.line, 3);
    assert.ok(problem.column > 0);
    // still the last good set: reads are denied by the maintenance policy, with its notice
    const r = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body.notices, ['Reads are paused for maintenance.']);
  });
});

describe('policy hot reload (Kubernetes ConfigMap mount)', () => {
  const dir = tempDir('cedargate-configmap-');
  let s: Stack;
  let tenant: string;
  let owner: User;
  let token: string;

  /** Lays out a ConfigMap volume the way the kubelet does: files behind `..data`. */
  function writeGeneration(name: string, extra: Record<string, string>): void {
    const gen = join(dir.path, name);
    mkdirSync(gen);
    for (const f of readdirSync(shippedPolicies)) {
      if (f.endsWith('.cedar') || f === 'schema.cedarschema')
        cpSync(join(shippedPolicies, f), join(gen, f));
    }
    for (const [f, text] of Object.entries(extra)) writeFileSync(join(gen, f), text);
  }

  before(async () => {
    writeGeneration('..2026_11_28_00_00_00.000000001', {});
    symlinkSync('..2026_11_28_00_00_00.000000001', join(dir.path, '..data'));
    for (const f of readdirSync(join(dir.path, '..data')))
      symlinkSync(join('..data', f), join(dir.path, f));
    const t = await startTenantStack('configmap', { policyDir: dir.path });
    ({ stack: s, tenantId: tenant, owner, ownerToken: token } = t);
  });
  after(async () => {
    await s?.stop();
    dir.remove();
  });

  it('reloads when the kubelet swaps the ..data symlink atomically', async () => {
    assert.equal((await s.call('GET', `/v1/users/${owner.id}`, { token, tenant })).status, 200);
    writeGeneration('..2026_11_28_00_01_00.000000002', { 'maintenance.cedar': READ_BLOCK });
    symlinkSync('..2026_11_28_00_01_00.000000002', join(dir.path, '..data_tmp'));
    renameSync(join(dir.path, '..data_tmp'), join(dir.path, '..data'));
    // the kubelet links new keys after the swap
    symlinkSync(join('..data', 'maintenance.cedar'), join(dir.path, 'maintenance.cedar'));
    await waitFor(
      async () => (await s.call('GET', `/v1/users/${owner.id}`, { token, tenant })).status === 403,
      5000,
      'the ConfigMap update to be live',
    );
    const st = await status(s);
    assert.ok(st.policies.live.policyIds.includes('e2e-no-reads'));
  });
});
