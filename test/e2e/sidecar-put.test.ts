/**
 * PUT /v1/users/{id} through the real sidecar: every row of contract §4 with its code, the
 * order of the checks, each of the seven shipped rules allowed and denied, and — from what the
 * backend actually received — that nothing denied was forwarded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { assertError } from '../helpers/contract.js';
import type { Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';

const MISSING_ID = '00000000-0000-4000-8000-000000000000';

describe('PUT /v1/users/{id} through the sidecar', () => {
  let s: Stack;
  let t1: string;
  let t2: string;
  let owner: User;
  let admin: User;
  let user: User;
  let viewer: User;
  let other: User; // owner of tenant 2
  const tok = {} as Record<'owner' | 'other' | 'admin' | 'user' | 'viewer', string>;

  before(async () => {
    const a = await startTenantStack('acme', {
      env: { BODY_LIMIT_BYTES: String(400 * 1024), UPSTREAM_TIMEOUT_MS: '1500' },
    });
    s = a.stack;
    const b = await openTenant(s, 'globex');
    [t1, t2, owner, other] = [a.tenantId, b.tenantId, a.owner, b.owner];
    [tok.owner, tok.other] = [a.ownerToken, b.ownerToken];
    const seeded = await a.seed(['Admin', ['admin']], ['Uma', ['user']], ['Vic', ['viewer']]);
    [
      { user: admin, token: tok.admin },
      { user, token: tok.user },
      { user: viewer, token: tok.viewer },
    ] = seeded;
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  const put = (
    token: string | undefined,
    id: string,
    body: unknown,
    extra: { tenant?: string; headers?: Record<string, string>; rawBody?: string } = {},
  ) => {
    const o: Parameters<Stack['call']>[2] = { tenant: extra.tenant ?? t1, body };
    if (token !== undefined) o.token = token;
    if (extra.headers !== undefined) o.headers = extra.headers;
    if (extra.rawBody !== undefined) o.rawBody = extra.rawBody;
    return s.call('PUT', `/v1/users/${id}`, o);
  };

  describe('every row of the error table', () => {
    it('400 invalid_input: malformed JSON, unknown field, wrong type, empty patch, bad id, missing and duplicate X-Tenant-ID', async () => {
      assertError(
        await put(tok.admin, viewer.id, undefined, {
          rawBody: '{"name":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'invalid_input',
      );
      assertError(
        await put(tok.admin, viewer.id, { name: 'x', admin: true }),
        400,
        'invalid_input',
      );
      assertError(await put(tok.admin, viewer.id, { name: 42 }), 400, 'invalid_input');
      assertError(await put(tok.admin, viewer.id, {}), 400, 'invalid_input');
      assertError(await put(tok.admin, 'not-a-user-id', { name: 'x' }), 400, 'invalid_input');
      const noTenant = await s.call('PUT', `/v1/users/${viewer.id}`, {
        token: tok.admin,
        body: { name: 'x' },
      });
      assertError(noTenant, 400, 'invalid_input');
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('400 invalid_input: an If-Match that is not * or a list of quoted entity tags, as the backend judges it', async () => {
      const r = await put(
        tok.admin,
        viewer.id,
        { name: 'x' },
        { headers: { 'if-match': 'v1, nonsense' } },
      );
      assertError(r, 400, 'invalid_input');
      assert.equal(r.body.details.field, 'If-Match');
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('400 invalid_input: duplicate keys are refused, not resolved', async () => {
      const r = await put(tok.owner, user.id, undefined, {
        rawBody: '{"roles":["user"],"roles":["admin"]}',
        headers: { 'content-type': 'application/json' },
      });
      assertError(r, 400, 'invalid_input');
    });

    it('401 unauthenticated with WWW-Authenticate: missing, malformed, expired, forged, unknown subject', async () => {
      const missing = await put(undefined, viewer.id, { name: 'x' });
      assertError(missing, 401, 'unauthenticated');
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
      assertError(await put('not.a.jwt', viewer.id, { name: 'x' }), 401, 'unauthenticated');
      const expired = await s.token(t1, admin.id, 60, () => Date.now() - 3600_000);
      assertError(await put(expired, viewer.id, { name: 'x' }), 401, 'unauthenticated');
      const [h, p, sig] = (await s.token(t1, admin.id)).split('.');
      const claims = JSON.parse(Buffer.from(p as string, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      claims.tenant_id = t2; // a changed payload no longer matches its signature
      const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
      assertError(
        await put(forged, other.id, { name: 'x' }, { tenant: t2 }),
        401,
        'unauthenticated',
      );
      const ghost = await s.token(t1, MISSING_ID);
      assertError(await put(ghost, viewer.id, { name: 'x' }), 401, 'unauthenticated');
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('403 tenant_mismatch: a credential of tenant 1 with X-Tenant-ID of tenant 2, even after caches are warm', async () => {
      assert.equal((await put(tok.admin, viewer.id, { name: 'Vic' })).status, 200);
      s.recorder.clear();
      assertError(
        await put(tok.admin, other.id, { name: 'x' }, { tenant: t2 }),
        403,
        'tenant_mismatch',
      );
      assertError(
        await put(tok.admin, viewer.id, { name: 'x' }, { tenant: t2 }),
        403,
        'tenant_mismatch',
      );
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('403 forbidden with notices, details.policies and details.action', async () => {
      const r = await put(tok.admin, admin.id, { roles: ['admin', 'user'] });
      assertError(r, 403, 'forbidden');
      assert.ok(Array.isArray(r.body.notices) && r.body.notices.length > 0, r.text);
      assert.ok(
        Array.isArray(r.body.details.policies) && r.body.details.policies.length > 0,
        r.text,
      );
      assert.equal(r.body.details.action, 'users:update');
    });

    it('404 not_found: unknown user in this tenant, another tenant’s user, unknown routes (405 for another method)', async () => {
      assertError(await put(tok.admin, MISSING_ID, { name: 'x' }), 404, 'not_found');
      assertError(await put(tok.admin, other.id, { name: 'x' }), 404, 'not_found');
      assertError(
        await s.call('PUT', `/v1/users/${viewer.id}/roles`, {
          token: tok.admin,
          tenant: t1,
          body: { name: 'x' },
        }),
        404,
        'not_found',
      );
      assertError(
        await s.call('PUT', `/v1/users/../users/${viewer.id}`, {
          token: tok.admin,
          tenant: t1,
          body: { name: 'x' },
        }),
        404,
        'not_found',
      );
      // A known path with another method is 405, not 404 (contract §4).
      assertError(
        await s.call('PATCH', `/v1/users/${viewer.id}`, {
          token: tok.admin,
          tenant: t1,
          body: { name: 'x' },
        }),
        405,
        'method_not_allowed',
      );
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('409 conflict: creating a second user with a taken email', async () => {
      const r = await s.call('POST', '/v1/users', {
        token: tok.owner,
        tenant: t1,
        body: { name: 'Dup', email: admin.email, roles: ['user'] },
      });
      assertError(r, 409, 'conflict');
    });

    it('412 precondition_failed: a stale If-Match, after one fresh look at the backend', async () => {
      const first = await s.call('GET', `/v1/users/${viewer.id}`, { token: tok.admin, tenant: t1 });
      const etag = first.headers.get('etag') as string;
      assert.ok(etag);
      const ok = await put(
        tok.admin,
        viewer.id,
        { name: 'Vic 2' },
        { headers: { 'if-match': etag } },
      );
      assert.equal(ok.status, 200, ok.text);
      const stale = await put(
        tok.admin,
        viewer.id,
        { name: 'Vic 3' },
        { headers: { 'if-match': etag } },
      );
      assertError(stale, 412, 'precondition_failed');
    });

    it('413 payload_too_large: a body over the limit, and an avatar over 256 KiB', async () => {
      const huge = 'x'.repeat(500 * 1024);
      assertError(await put(tok.user, user.id, { name: huge }), 413, 'payload_too_large');
      const avatar = `data:image/png;base64,${Buffer.alloc(200 * 1024).toString('base64')}`;
      assertError(await put(tok.user, user.id, { avatar }), 413, 'payload_too_large');
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('415 unsupported_media_type: text/plain and UTF-16 bodies', async () => {
      assertError(
        await put(tok.user, user.id, undefined, {
          rawBody: '{"name":"x"}',
          headers: { 'content-type': 'text/plain' },
        }),
        415,
        'unsupported_media_type',
      );
      assertError(
        await put(tok.user, user.id, undefined, {
          rawBody: '{"name":"x"}',
          headers: { 'content-type': 'application/json; charset=utf-16' },
        }),
        415,
        'unsupported_media_type',
      );
    });

    it('422 invalid_roles with details.invalid and details.allowed', async () => {
      const r = await put(tok.owner, user.id, { roles: ['user', 'superuser'] });
      assertError(r, 422, 'invalid_roles');
      assert.deepEqual(r.body.details.invalid, ['superuser']);
      assert.deepEqual([...r.body.details.allowed].sort(), ['admin', 'user', 'viewer']);
      assert.equal(s.recorder.forwarded().length, 0);
    });

    it('502 upstream_unavailable and 504 upstream_timeout when the backend resets or hangs', async () => {
      // Warm the caches so the failure happens on the forward itself, not on a lookup.
      assert.equal((await put(tok.user, user.id, { name: 'Uma' })).status, 200);
      s.recorder.setMode('reset');
      try {
        assertError(await put(tok.user, user.id, { name: 'Uma R' }), 502, 'upstream_unavailable');
        s.recorder.setMode('hang');
        assertError(await put(tok.user, user.id, { name: 'Uma H' }), 504, 'upstream_timeout');
      } finally {
        s.recorder.setMode('pass');
      }
    });
  });

  describe('check order (contract §4)', () => {
    it('credential before tenant header before tenant match before route before body before target before roles before policy', async () => {
      // Everything wrong at once: each fix reveals the next check.
      const bad = { roles: ['superuser'], extra: 1 };
      assertError(
        await s.call('PUT', `/v1/nope/${MISSING_ID}`, { body: bad }),
        401,
        'unauthenticated',
      );
      assertError(
        await s.call('PUT', `/v1/nope/${MISSING_ID}`, { token: tok.user, body: bad }),
        400,
        'invalid_input',
      );
      assertError(
        await s.call('PUT', `/v1/nope/${MISSING_ID}`, { token: tok.user, tenant: t2, body: bad }),
        403,
        'tenant_mismatch',
      );
      assertError(
        await s.call('PUT', `/v1/nope/${MISSING_ID}`, { token: tok.user, tenant: t1, body: bad }),
        404,
        'not_found',
      );
      assertError(await put(tok.user, MISSING_ID, bad), 400, 'invalid_input');
      assertError(await put(tok.user, MISSING_ID, { roles: ['superuser'] }), 404, 'not_found');
      assertError(await put(tok.user, viewer.id, { roles: ['superuser'] }), 422, 'invalid_roles');
      assertError(await put(tok.user, viewer.id, { roles: ['user'] }), 403, 'forbidden');
      assert.equal(s.recorder.forwarded().length, 0);
    });
  });

  describe('the seven shipped rules', () => {
    it('1. any user may list and read the users of their tenant', async () => {
      const list = await s.call('GET', '/v1/users', { token: tok.viewer, tenant: t1 });
      assert.equal(list.status, 200, list.text);
      assert.ok(list.body.users.length >= 4);
      assert.ok(list.body.users.every((u: User) => u.tenant_id.toUpperCase() === t1.toUpperCase()));
      const read = await s.call('GET', `/v1/users/${admin.id}`, { token: tok.viewer, tenant: t1 });
      assert.equal(read.status, 200);
      // ...and never another tenant's: the credential cannot name tenant 2, and tenant 1 has no such user.
      assertError(
        await s.call('GET', `/v1/users/${other.id}`, { token: tok.viewer, tenant: t1 }),
        404,
        'not_found',
      );
      assertError(
        await s.call('GET', '/v1/users', { token: tok.viewer, tenant: t2 }),
        403,
        'tenant_mismatch',
      );
    });

    it('2. any user may change their own name and avatar — but not another user’s', async () => {
      const avatar = 'data:image/png;base64,iVBORw0KGgo='; // a PNG signature
      const own = await put(tok.viewer, viewer.id, { name: 'Victoria', avatar });
      assert.equal(own.status, 200, own.text);
      assert.equal(own.body.name, 'Victoria');
      const theirs = await put(tok.viewer, user.id, { name: 'Hacked' });
      assertError(theirs, 403, 'forbidden');
      // No policy decided: the one generic notice (DEFAULT_DENY_NOTICE's default).
      assert.deepEqual(theirs.body.notices, ['No policy allows this action for your roles.']);
      assert.deepEqual(theirs.body.details.policies, []);
    });

    it('3. admins create, update (name, roles) and delete users in their tenant; others may not', async () => {
      const created = await s.call('POST', '/v1/users', {
        token: tok.admin,
        tenant: t1,
        body: { name: 'Temp', email: 'temp@acme.test', roles: ['viewer'] },
      });
      assert.equal(created.status, 201, created.text);
      const upd = await put(tok.admin, created.body.id, { name: 'Temp 2', roles: ['user'] });
      assert.equal(upd.status, 200, upd.text);
      assert.deepEqual(upd.body.roles, ['user']);
      assertError(
        await s.call('DELETE', `/v1/users/${created.body.id}`, { token: tok.viewer, tenant: t1 }),
        403,
        'forbidden',
      );
      assert.equal(
        (await s.call('DELETE', `/v1/users/${created.body.id}`, { token: tok.admin, tenant: t1 }))
          .status,
        204,
      );
      assertError(
        await s.call('POST', '/v1/users', {
          token: tok.user,
          tenant: t1,
          body: { name: 'No', email: 'no@acme.test', roles: ['user'] },
        }),
        403,
        'forbidden',
      );
      assertError(await put(tok.user, viewer.id, { roles: ['user'] }), 403, 'forbidden');
    });

    it('4. only the owner may grant or revoke admin (with a notice)', async () => {
      const byAdmin = await put(tok.admin, user.id, { roles: ['admin'] });
      assertError(byAdmin, 403, 'forbidden');
      assert.equal(byAdmin.body.notices.length, 1, byAdmin.text);
      assert.match(byAdmin.body.notices[0] ?? '', /owner/i);
      const createAdmin = await s.call('POST', '/v1/users', {
        token: tok.admin,
        tenant: t1,
        body: { name: 'A2', email: 'a2@acme.test', roles: ['admin'] },
      });
      assertError(createAdmin, 403, 'forbidden');
      const byOwner = await put(tok.owner, user.id, { roles: ['admin'] });
      assert.equal(byOwner.status, 200, byOwner.text);
      const revoke = await put(tok.owner, user.id, { roles: ['user'] });
      assert.equal(revoke.status, 200, revoke.text);
    });

    it('5. no one may change their own roles (with a notice), the owner included', async () => {
      const self = await put(tok.admin, admin.id, { roles: ['admin', 'user'] });
      assertError(self, 403, 'forbidden');
      assert.ok(
        self.body.notices.some((n: string) => /own roles/i.test(n)),
        self.text,
      );
      const ownerSelf = await put(tok.owner, owner.id, { roles: ['admin', 'user'] });
      assertError(ownerSelf, 403, 'forbidden');
      assert.ok(
        ownerSelf.body.notices.some((n: string) => /own roles/i.test(n)),
        ownerSelf.text,
      );
      // a no-op role list is not a change
      const same = await put(tok.admin, admin.id, { name: 'Admin', roles: ['admin'] });
      assert.equal(same.status, 200, same.text);
    });

    it('6. no one may change the owner’s roles or delete the owner (with a notice); renaming is fine for admins', async () => {
      const roles = await put(tok.admin, owner.id, { roles: ['user'] });
      assertError(roles, 403, 'forbidden');
      assert.ok(
        roles.body.notices.some((n: string) => /owner/i.test(n)),
        roles.text,
      );
      const del = await s.call('DELETE', `/v1/users/${owner.id}`, { token: tok.admin, tenant: t1 });
      assertError(del, 403, 'forbidden');
      assert.ok(del.body.notices.length > 0, del.text);
      const rename = await put(tok.admin, owner.id, { name: 'The Owner' });
      assert.equal(rename.status, 200, rename.text);
    });

    it('7. nothing crosses tenants: tenant 2’s owner cannot touch tenant 1, by header or by id', async () => {
      assertError(
        await put(tok.other, user.id, { name: 'x' }, { tenant: t1 }),
        403,
        'tenant_mismatch',
      );
      assertError(await put(tok.other, user.id, { name: 'x' }, { tenant: t2 }), 404, 'not_found');
      assertError(
        await s.call('DELETE', `/v1/users/${user.id}`, { token: tok.other, tenant: t2 }),
        404,
        'not_found',
      );
      const mine = await put(tok.other, other.id, { name: 'Globex Owner' }, { tenant: t2 });
      assert.equal(mine.status, 200, mine.text);
    });
  });

  describe('stale copies', () => {
    it('acting on oneself after a change the sidecar has not seen: decided on one fresh version, not denied', async () => {
      // Change Uma behind the sidecar's back, straight at the backend, so both its copies
      // (as principal and as target) are stale: the write comes back 412 and is decided again.
      const me = await put(tok.user, user.id, { name: 'Uma Before' });
      assert.equal(me.status, 200, me.text);
      const secret = readFileSync(join(s.dataDir, 'trust-secret'), 'utf8').trim();
      const direct = await fetch(`${s.recorder.url}/v1/users/${user.id}`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          'x-tenant-id': t1,
          'x-cedargate-trust': secret,
        },
        body: JSON.stringify({ roles: ['viewer'] }),
      });
      assert.equal(direct.status, 200, await direct.text());
      const again = await put(tok.user, user.id, { name: 'Uma After' });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.name, 'Uma After');
      assert.deepEqual(again.body.roles, ['viewer']);
      const back = await put(tok.owner, user.id, { roles: ['user'] });
      assert.equal(back.status, 200, back.text);
    });
  });

  describe('what the backend received', () => {
    it('a denied request is never forwarded; an allowed one arrives as the decided object, path and identity', async () => {
      s.recorder.clear();
      assertError(await put(tok.admin, user.id, { roles: ['admin'] }), 403, 'forbidden');
      assert.equal(s.recorder.forwarded().length, 0);
      const ok = await put(
        tok.admin,
        user.id,
        { roles: ['viewer'], name: 'Uma' },
        {
          headers: {
            'x-cedargate-subject': owner.id,
            'x-forwarded-for': '6.6.6.6',
            'x-http-method-override': 'DELETE',
            'x-cedargate-trust': 'guess',
          },
        },
      );
      assert.equal(ok.status, 200, ok.text);
      const fwd = s.recorder.forwarded();
      assert.equal(fwd.length, 1);
      const got = fwd[0]!;
      assert.equal(got.method, 'PUT');
      assert.equal(got.path, `/v1/users/${user.id.toUpperCase()}`);
      assert.deepEqual(JSON.parse(got.body), { name: 'Uma', roles: ['viewer'] });
      assert.equal(got.headers['x-cedargate-subject'], admin.id.toUpperCase());
      assert.equal(String(got.headers['x-tenant-id']).toUpperCase(), t1.toUpperCase());
      assert.equal(got.headers['x-forwarded-for'], undefined);
      assert.equal(got.headers['x-http-method-override'], undefined);
      assert.equal(got.headers.authorization, undefined);
      assert.notEqual(got.headers['x-cedargate-trust'], 'guess');
      assert.match(String(got.headers['if-match']), /^".+"$/);
    });
  });
});
