/**
 * Issue 16 item 5 through the running `start`: errors a client can act on. RFC 6750 §3.1
 * challenges on 401 (no error code without a credential, `invalid_request` for a malformed
 * request, `invalid_token` for a bad token), `tenant_mismatch` naming both tenants (and the
 * decision line too), and 405 `method_not_allowed` with `Allow` for a known path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { assertError } from '../helpers/contract.js';
import { waitFor } from '../helpers/net.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

describe('errors a client can act on (issue 16 item 5)', () => {
  let s: Stack;
  let tA: string;
  let tB: string;
  let ownerA: User;
  let tokA: string;

  before(async () => {
    // info: the decision lines are logged at info
    const a = await startTenantStack('acme', { env: { LOG_LEVEL: 'info' } });
    ({ stack: s, tenantId: tA, owner: ownerA, ownerToken: tokA } = a);
    ({ tenantId: tB } = await s.createTenant('globex'));
  });
  after(async () => s?.stop());

  describe('401 challenges (RFC 6750 §3.1)', () => {
    it('no credential: WWW-Authenticate Bearer with a realm and no error code', async () => {
      const r = await s.call('GET', '/v1/users', { tenant: tA });
      assertError(r, 401, 'unauthenticated');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="cedargate"');
    });

    it('another scheme is no bearer credential either: no error code', async () => {
      const r = await s.call('GET', '/v1/users', {
        tenant: tA,
        headers: { authorization: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l' },
      });
      assertError(r, 401, 'unauthenticated');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="cedargate"');
    });

    it('a malformed request: error="invalid_request"', async () => {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer  ']) {
        const r = await s.call('GET', '/v1/users', { tenant: tA, headers: { authorization } });
        assertError(r, 401, 'unauthenticated', authorization);
        assert.equal(
          r.headers.get('www-authenticate'),
          'Bearer realm="cedargate", error="invalid_request", error_description="malformed request"',
          authorization,
        );
        assert.equal(r.body.details?.reason, 'malformed request', authorization);
      }
    });

    it('a bad token: error="invalid_token" (malformed, expired, forged, unknown subject)', async () => {
      const expired = await s.token(tA, ownerA.id, 1, () => Date.now() - 3_600_000);
      const unknown = await s.token(tA, '00000000-0000-4000-8000-00000000dead');
      const [h, p] = tokA.split('.');
      const forged = `${h}.${p}.${'A'.repeat(86)}`;
      for (const [what, token, reason] of [
        ['malformed', 'abc.def', 'malformed token'],
        ['expired', expired, 'expired'],
        ['forged', forged, 'bad signature'],
        ['unknown subject', unknown, 'unknown user'],
      ] as const) {
        const r = await s.call('GET', '/v1/users', { tenant: tA, token });
        assertError(r, 401, 'unauthenticated', what);
        // The fixed category, in the challenge and the body alike; never the token.
        assert.equal(
          r.headers.get('www-authenticate'),
          `Bearer realm="cedargate", error="invalid_token", error_description="${reason}"`,
          what,
        );
        assert.equal(r.body.details?.reason, reason, what);
        assert.ok(!r.text.includes(token.split('.')[1] ?? '-'), `${what}: the token leaked`);
      }
    });
  });

  describe('tenant_mismatch', () => {
    it('details name the header tenant and the credential tenant, on every route', async () => {
      for (const [method, path] of [
        ['GET', '/v1/users'],
        ['GET', `/v1/users/${ownerA.id}`],
        ['POST', '/v1/users'],
        ['DELETE', `/v1/users/${ownerA.id}`],
        ['PATCH', `/v1/users/${ownerA.id}`],
      ] as const) {
        const r = await s.call(method, path, { token: tokA, tenant: tB.toLowerCase() });
        assertError(r, 403, 'tenant_mismatch', `${method} ${path}`);
        assert.deepEqual(r.body.details, { header_tenant: tB, credential_tenant: tA });
      }
    });

    it("the decision line records the credential's tenant as well as the header's", async () => {
      const r = await s.call('GET', '/v1/users', {
        token: tokA,
        tenant: tB,
        headers: { 'x-request-id': 'mismatch-line-1' },
      });
      assert.equal(r.status, 403);
      let line: Record<string, unknown> | undefined;
      await waitFor(() => {
        line = s.process
          .output()
          .split('\n')
          .filter((l) => l.includes('mismatch-line-1'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l['msg'] === 'decision');
        return line !== undefined;
      }, 10_000);
      assert.equal(line?.['tenant'], tB);
      assert.equal(line?.['credential_tenant'], tA);
      assert.equal(line?.['error'], 'tenant_mismatch');
    });
  });

  describe('405 method_not_allowed', () => {
    for (const [method, path, allow] of [
      ['PUT', '/v1/users', 'GET, POST'],
      ['DELETE', '/v1/users', 'GET, POST'],
      ['PATCH', '/v1/users', 'GET, POST'],
      ['POST', '/v1/users/{id}', 'GET, PUT, DELETE'],
      ['PATCH', '/v1/users/{id}', 'GET, PUT, DELETE'],
      ['OPTIONS', '/v1/users/{id}', 'GET, PUT, DELETE'],
    ] as const) {
      it(`${method} ${path} → 405 with Allow: ${allow}, never forwarded`, async () => {
        s.recorder.clear();
        const r = await s.call(method, path.replace('{id}', ownerA.id), {
          token: tokA,
          tenant: tA,
        });
        assertError(r, 405, 'method_not_allowed', `${method} ${path}`);
        assert.equal(r.headers.get('allow'), allow);
        assert.deepEqual(r.body.details, { allowed_methods: allow.split(', ') });
        assert.equal(s.recorder.forwarded().length, 0);
      });
    }

    it('the check order holds: no credential is 401, another tenant 403, an unknown path 404', async () => {
      const path = `/v1/users/${ownerA.id}`;
      assertError(await s.call('POST', path, { tenant: tA }), 401, 'unauthenticated');
      assertError(await s.call('POST', path, { token: tokA, tenant: tB }), 403, 'tenant_mismatch');
      assertError(
        await s.call('POST', `/v1/users/${ownerA.id}/roles`, { token: tokA, tenant: tA }),
        404,
        'not_found',
      );
      // A spelling that is not the route is not the route, whatever the method.
      assertError(
        await s.call('POST', '/v1/users/', { token: tokA, tenant: tA }),
        404,
        'not_found',
      );
    });
  });
});
