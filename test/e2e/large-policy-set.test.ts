/**
 * Loading a large policy set never stops the live path (issue 22 item 6): a valid 4,000-policy
 * file copied into CANDIDATE_POLICY_DIR while a client sends one GET every 100 ms used to leave
 * every request unanswered for ~40 s. Loading, validating and compiling now happen off the event
 * loop; requests go on being decided by the last good set meanwhile.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { shippedPolicies, tempDir } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';

/** `n` valid permits, each on users:read. */
export function manyPolicies(n: number): string {
  let text = '';
  for (let i = 0; i < n; i++) {
    text +=
      `@id("generated-${i}")\npermit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)\n` +
      `when { resource.tenant == principal.tenant && principal.roles.contains(Cedargate::Role::"admin") };\n\n`;
  }
  return text;
}

/** Generous: the stall it guards against was 40 s; an answer normally takes a few ms. */
const MAX_WAIT_MS = 2000;

describe('a 4,000-policy candidate set copied in while requests flow', () => {
  const candidate = tempDir('cedargate-large-candidate-');
  let s: Stack;
  before(async () => {
    cpSync(shippedPolicies, candidate.path, { recursive: true });
    s = await startStack({ env: { CANDIDATE_POLICY_DIR: candidate.path, POLICY_POLL_MS: '500' } });
  });
  after(async () => {
    await s?.stop();
    candidate.remove();
  });

  it('keeps answering every GET promptly until the candidate is live, and none is reset', async () => {
    const { tenantId, owner, ownerToken: token } = await openTenant(s, 'large');
    const statusOf = async () =>
      (
        (await (await fetch(`${s.adminUrl}/status`)).json()) as {
          candidate: { policies: { live: { policyIds: string[] } } | null };
        }
      ).candidate;
    const before = (await statusOf()).policies?.live.policyIds.length ?? 0;

    writeFileSync(join(candidate.path, 'generated.cedar'), manyPolicies(4000));
    const waits: number[] = [];
    const failures: string[] = [];
    const deadline = Date.now() + 120_000;
    let loaded = false;
    while (!loaded && Date.now() < deadline) {
      const started = Date.now();
      try {
        const r = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant: tenantId });
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
      } catch (err) {
        failures.push(String(err));
      }
      waits.push(Date.now() - started);
      loaded = ((await statusOf()).policies?.live.policyIds.length ?? 0) > before;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(loaded, 'the candidate set went live within 120 s');
    assert.deepEqual(failures, []);
    const longest = Math.max(...waits);
    assert.ok(
      longest < MAX_WAIT_MS,
      `a GET waited ${longest} ms while the candidate loaded (${waits.length} GETs)`,
    );
  });
});
