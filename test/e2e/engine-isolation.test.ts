/**
 * Policy text from anywhere but POLICY_DIR never reaches the live engine (issue 22 item 1,
 * security.md 39): the playground's 220-byte body nested 150 deep used to trap Cedar's wasm
 * instance that decides live requests, after which every uncached decision was a deny with no
 * policy while /readyz said ready. Now the text is refused (400, file:line:column) before Cedar
 * sees it, and the live set keeps deciding.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError } from '../helpers/contract.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';

/** One policy whose condition is `true` inside `depth` parentheses. */
export const deepPolicy = (depth: number): string =>
  `@id("deep")\npermit (principal, action, resource)\nwhen { ${'('.repeat(depth)}true${')'.repeat(depth)} };\n`;

async function post(adminUrl: string, path: string, body: unknown) {
  const res = await fetch(`${adminUrl}/playground/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as never };
}

describe('policy text from the playground nested to trap Cedar', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ env: { PLAYGROUND: 'true' } });
  });
  after(async () => s?.stop());

  it('is a 400 at file:line:column, and the live engine keeps deciding; /readyz stays truthful', async () => {
    const { tenantId, owner, ownerToken: token } = await openTenant(s, 'deep');
    const live = (await (await fetch(`${s.adminUrl}/playground/api/live`)).json()) as {
      schema: string;
    };
    for (const depth of [80, 150, 1000]) {
      const r = await post(s.adminUrl, 'validate', {
        policies: { schema: live.schema, files: [{ file: 'deep.cedar', text: deepPolicy(depth) }] },
      });
      assertError(r, 400, 'invalid_input', `nested ${depth} deep`);
      assert.match(r.text, /deep\.cedar:3:\d+/, r.text);
      assert.match(r.text, /nested/, r.text);
      const d = await post(s.adminUrl, 'decide', {
        policies: { schema: live.schema, files: [{ file: 'deep.cedar', text: deepPolicy(depth) }] },
        request: { action: 'users:list' },
      });
      assertError(d, 400, 'invalid_input', `decide, nested ${depth} deep`);
    }
    // Decisions not yet in the cache: the owner reads themselves and creates a user.
    const read = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant: tenantId });
    assert.equal(read.status, 200, read.text);
    const created = await s.call('POST', '/v1/users', {
      token,
      tenant: tenantId,
      body: { name: 'Nina', email: 'nina@deep.test', roles: ['user'] },
    });
    assert.equal(created.status, 201, created.text);
    const ready = await fetch(`${s.adminUrl}/readyz`);
    const body = (await ready.json()) as { checks: Record<string, string> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.match(body.checks['engine'] ?? '', /^ok/, JSON.stringify(body));
  });
});
