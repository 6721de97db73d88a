/**
 * Issue 22, Also: the admin port answers without a credential, so what it says must be what an
 * operator's probe or scraper needs and nothing a client of the API could use against a user
 * (docs/security.md, "what the admin port tells"): no user's id, name or email, no credential,
 * no trust secret, whatever traffic came before.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';

describe('what the admin port tells without a credential (issue 22, Also)', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s?.stop();
  });

  it('/status, /metrics, /readyz and /healthz name no user, credential or secret after traffic', async () => {
    const { tenantId, owner, ownerToken: token } = await openTenant(s, 'probe');
    const zed = await s.createUser(tenantId, token, 'Zed Secretname', ['user']);
    const zedToken = await s.token(tenantId, zed.id);
    // Traffic of every kind: an allow, a deny, a 404, a 401.
    await s.call('GET', `/v1/users/${zed.id}`, { token: zedToken, tenant: tenantId });
    await s.call('DELETE', `/v1/users/${owner.id}`, { token: zedToken, tenant: tenantId });
    await s.call('GET', '/v1/users/00000000-0000-4000-8000-000000000000', {
      token,
      tenant: tenantId,
    });
    await s.call('GET', '/v1/users', { token: `${token}x`, tenant: tenantId });
    const secret = readFileSync(join(s.dataDir, 'trust-secret'), 'utf8').trim();
    const forbidden = [
      owner.id,
      zed.id,
      'Zed Secretname',
      zed.email,
      owner.email,
      secret,
      token.split('.')[2] ?? token,
      zedToken.split('.')[2] ?? zedToken,
    ];
    for (const path of ['/status', '/metrics', '/readyz', '/healthz']) {
      const res = await fetch(`${s.adminUrl}${path}`);
      assert.ok(res.status === 200 || res.status === 503, `${path} ${res.status}`);
      const text = (await res.text()).toLowerCase();
      for (const f of forbidden) {
        assert.ok(!text.includes(f.toLowerCase()), `${path} names ${f}`);
      }
    }
  });
});
