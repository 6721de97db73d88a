// supertest types every res.body as `any`; these tests read it as the contract's JSON and
// their assertions fail on any other shape, so member access on it is what is being checked.
/* eslint-disable @typescript-eslint/no-unsafe-member-access */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import request from 'supertest';
import { assertError } from '../../helpers/contract.js';
import { sendRaw } from '../../helpers/raw-http.js';
import { createBackendApp, type BackendDeps } from '../../../src/backend/app.js';
import { openSqliteStore } from '../../../src/backend/store/sqlite.js';
import type { UserStore } from '../../../src/backend/store/store.js';
import { TRUST_HEADER } from '../../../src/common/trust.js';
import type { User } from '../../../src/common/user.js';
import { tempDir } from '../../helpers/process.js';

const SECRET = 'test-trust-secret-0123456789';
const MISSING = '00000000-0000-4000-8000-000000000000';
const ROLES = ['admin', 'user', 'viewer'];

const dir = tempDir('cedargate-app-');
const store = openSqliteStore(join(dir.path, 'data'));
after(async () => {
  await store.close();
  dir.remove();
});

const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

function makeApp(overrides: Partial<BackendDeps> = {}) {
  return createBackendApp({
    store,
    allowedRoles: () => ROLES,
    trustSecret: SECRET,
    logger,
    bodyLimitBytes: 1024 * 1024,
    ...overrides,
  });
}

const app = makeApp();
let tenant = '';
let ownerId = '';
let otherTenant = '';
let otherUserId = '';

before(async () => {
  const made = await store.createTenant('Acme', {
    name: 'Owner',
    email: 'owner@acme.example',
    roles: ['admin'],
  });
  tenant = made.tenant.id;
  ownerId = made.owner.id;
  const other = await store.createTenant('Other', {
    name: 'Other owner',
    email: 'owner@other.example',
    roles: ['admin'],
  });
  otherTenant = other.tenant.id;
  otherUserId = (
    await store.createUser(otherTenant, {
      name: 'B user',
      email: 'b@other.example',
      roles: ['user'],
    })
  ).id;
});

/** A request as the sidecar sends it: trust header and tenant. */
function as(t: string, method: 'get' | 'post' | 'put' | 'delete', path: string, target = app) {
  return request(target)[method](path).set(TRUST_HEADER, SECRET).set('x-tenant-id', t);
}

let counter = 0;
async function createUser(
  extra: Record<string, unknown> = {},
): Promise<{ user: User; etag: string }> {
  counter++;
  const res = await as(tenant, 'post', '/v1/users')
    .send({
      name: `User ${counter}`,
      email: `user${counter}@acme.example`,
      roles: ['user'],
      ...extra,
    })
    .expect(201);
  return { user: res.body as User, etag: res.headers['etag'] as string };
}

/** Sends raw bytes to the app on a loopback port; for what HTTP clients refuse to send. */
async function rawRequest(
  raw: string | Buffer,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    const { responses, text } = await sendRaw(port, raw, { untilResponses: 1 });
    const [answer] = responses;
    assert.ok(answer?.json, `no JSON answer: ${text}`);
    return { status: answer.status, body: answer.json };
  } finally {
    server.close();
  }
}

function expectError(res: request.Response, status: number, code: string): void {
  assertError(res, status, code);
  assert.match(String(res.headers['content-type']), /^application\/json/);
}

describe('backend app: health and trust', () => {
  it('GET /healthz answers 200 without trust header or tenant', async () => {
    const res = await request(app).get('/healthz').expect(200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('GET /healthz answers 503 unavailable when the store does not answer', async () => {
    const broken: UserStore = { ...store, ping: () => Promise.reject(new Error('disk gone')) };
    expectError(await request(makeApp({ store: broken })).get('/healthz'), 503, 'unavailable');
  });

  it('401 unauthenticated without the trust header, with a wrong one, or with two', async () => {
    for (const value of [undefined, 'wrong-secret-wrong-secret', `${SECRET}, ${SECRET}`]) {
      let req = request(app).get('/v1/users').set('x-tenant-id', tenant);
      if (value !== undefined) req = req.set(TRUST_HEADER, value);
      const res = await req;
      expectError(res, 401, 'unauthenticated');
      assert.equal(res.body.message, 'requests must come through the cedargate sidecar');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }
    const twice = await rawRequest(
      `GET /v1/users HTTP/1.1\r\nHost: x\r\n${TRUST_HEADER}: ${SECRET}\r\n${TRUST_HEADER}: ${SECRET}\r\nX-Tenant-ID: ${tenant}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(twice.status, 401);
    assert.equal(twice.body['code'], 'unauthenticated');
  });

  it('checks trust before the route: an unknown path without trust is 401, not 404', async () => {
    expectError(await request(app).get('/nope'), 401, 'unauthenticated');
  });
});

describe('backend app: tenant header', () => {
  it('400 invalid_input when X-Tenant-ID is missing, malformed, or sent twice', async () => {
    expectError(
      await request(app).get('/v1/users').set(TRUST_HEADER, SECRET),
      400,
      'invalid_input',
    );
    for (const bad of ['acme', '../x', `${tenant} `.repeat(2), `${tenant}, ${tenant}`]) {
      const res = await request(app)
        .get('/v1/users')
        .set(TRUST_HEADER, SECRET)
        .set('x-tenant-id', bad);
      expectError(res, 400, 'invalid_input');
    }
    // Two header lines (node would join them) and non-UTF-8 bytes need a raw request.
    const head = `GET /v1/users HTTP/1.1\r\nHost: x\r\n${TRUST_HEADER}: ${SECRET}\r\nConnection: close\r\n`;
    const twice = await rawRequest(
      `${head}X-Tenant-ID: ${tenant}\r\nX-Tenant-ID: ${tenant}\r\n\r\n`,
    );
    assert.equal(twice.status, 400);
    assert.equal(twice.body['code'], 'invalid_input');
    const latin1 = await rawRequest(
      Buffer.concat([
        Buffer.from(`${head}X-Tenant-ID: ${tenant.slice(0, -1)}`),
        Buffer.from([0xff]),
        Buffer.from('\r\n\r\n'),
      ]),
    );
    assert.equal(latin1.status, 400);
    assert.equal(latin1.body['code'], 'invalid_input');
  });

  it('checks the tenant header before the route', async () => {
    expectError(await request(app).get('/nope').set(TRUST_HEADER, SECRET), 400, 'invalid_input');
  });

  it('accepts the tenant id in any case', async () => {
    const res = await as(tenant.toLowerCase(), 'get', `/v1/users/${ownerId}`).expect(200);
    assert.equal(res.body.tenant_id, tenant);
  });
});

describe('backend app: routes', () => {
  it('404 not_found for paths and methods the API does not have', async () => {
    for (const [method, path] of [
      ['get', '/'],
      ['get', '/v1'],
      ['get', '/v1/users/'],
      ['get', '/V1/users'],
      ['get', '/v1/Users'],
      ['get', '//v1/users'],
      ['get', `/v1/users/${ownerId}/roles`],
      ['post', `/v1/users/${ownerId}`],
      ['put', '/v1/users'],
      ['delete', '/v1/users'],
    ] as const) {
      expectError(await as(tenant, method, path), 404, 'not_found');
    }
    const options = await request(app)
      .options('/v1/users')
      .set(TRUST_HEADER, SECRET)
      .set('x-tenant-id', tenant);
    expectError(options, 404, 'not_found');
    const patch = await request(app)
      .patch(`/v1/users/${ownerId}`)
      .set(TRUST_HEADER, SECRET)
      .set('x-tenant-id', tenant);
    expectError(patch, 404, 'not_found');
  });

  it('400 invalid_input for ids that are not UUID-shaped, encoded traversal included', async () => {
    for (const id of ['u1', '..%2f..%2fother-tenant%2fu1', '%2e%2e', `${ownerId}x`, '%ZZ']) {
      expectError(await as(tenant, 'get', `/v1/users/${id}`), 400, 'invalid_input');
    }
  });
});

describe('backend app: create and read', () => {
  it('POST creates: 201, Location, strong ETag, the contract user', async () => {
    const res = await as(tenant, 'post', '/v1/users')
      .send({
        name: '  Grace ',
        email: 'Grace@Acme.example',
        roles: ['user', 'viewer'],
        auth_provider: 'oidc',
      })
      .expect(201);
    const u = res.body as User;
    assert.deepEqual(Object.keys(u).sort(), [
      'auth_provider',
      'avatar',
      'created_at',
      'email',
      'id',
      'is_owner',
      'name',
      'roles',
      'tenant_id',
      'updated_at',
    ]);
    assert.equal(u.name, 'Grace');
    assert.equal(u.email, 'grace@acme.example');
    assert.deepEqual(u.roles, ['user', 'viewer']);
    assert.equal(u.is_owner, false);
    assert.equal(u.avatar, null);
    assert.equal(u.auth_provider, 'oidc');
    assert.equal(u.tenant_id, tenant);
    assert.equal(res.headers['location'], `/v1/users/${u.id}`);
    assert.match(String(res.headers['etag']), /^"[^"]+"$/);
    assert.equal(res.headers['cache-control'], 'no-store');

    const read = await as(tenant, 'get', `/v1/users/${u.id.toLowerCase()}`).expect(200);
    assert.deepEqual(read.body, u);
    assert.equal(read.headers['etag'], res.headers['etag']);
  });

  it('404 not_found for a user of another tenant or none', async () => {
    expectError(await as(tenant, 'get', `/v1/users/${otherUserId}`), 404, 'not_found');
    expectError(await as(tenant, 'get', `/v1/users/${MISSING}`), 404, 'not_found');
  });

  it('404 not_found when creating in a tenant that does not exist', async () => {
    const res = await as(MISSING, 'post', '/v1/users').send({
      name: 'x',
      email: 'x@x.example',
      roles: [],
    });
    expectError(res, 404, 'not_found');
  });

  it('409 conflict for an email taken in the tenant, in any case', async () => {
    const { user } = await createUser();
    const res = await as(tenant, 'post', '/v1/users').send({
      name: 'x',
      email: user.email.toUpperCase(),
      roles: [],
    });
    expectError(res, 409, 'conflict');
    // The same address in another tenant is fine.
    await as(otherTenant, 'post', '/v1/users')
      .send({ name: 'x', email: user.email, roles: [] })
      .expect(201);
  });

  it('400 invalid_input for bad bodies, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', email: 'x@x.example', roles: [], extra: 1 }, 'extra'],
      [{ name: 'x', email: 'x@x.example', roles: [], is_owner: true }, 'is_owner'],
      [{ name: '', email: 'x@x.example', roles: [] }, 'name'],
      [{ name: 'x', email: 'not-an-email', roles: [] }, 'email'],
      [{ name: 'x', email: 'x@x.example', roles: ['user', 'user'] }, 'roles'],
      [
        { name: 'x', email: 'x@x.example', roles: [], avatar: 'data:image/png;base64,***' },
        'avatar',
      ],
      [{ email: 'x@x.example', roles: [] }, 'name'],
    ];
    for (const [body, field] of cases) {
      const res = await as(tenant, 'post', '/v1/users').send(body as object);
      expectError(res, 400, 'invalid_input');
      assert.equal(res.body.details?.field, field, JSON.stringify(body));
    }
  });

  it('400 invalid_input for strings that are not well-formed Unicode (security.md #33), nothing stored', async () => {
    const { user } = await createUser();
    const count = async () =>
      ((await as(tenant, 'get', '/v1/users?limit=200').expect(200)).body.users as User[]).length;
    const before = await count();
    // The raw JSON escapes, as a client sends them; supertest would re-serialize an object.
    const posts: [string, string][] = [
      [`{"name":"${'a'.repeat(255)}\\ud800","email":"lone@x.example","roles":[]}`, 'name'],
      ['{"name":"x","email":"lone\\udfff@x.example","roles":[]}', 'email'],
      ['{"name":"x","email":"lone@x.example","roles":["user\\ud800"]}', 'roles'],
    ];
    for (const [raw, field] of posts) {
      const res = await as(tenant, 'post', '/v1/users').type('json').send(raw);
      expectError(res, 400, 'invalid_input');
      assert.equal(res.body.details?.field, field, raw);
    }
    const put = await as(tenant, 'put', `/v1/users/${user.id}`)
      .type('json')
      .send('{"name":"\\ud800"}');
    expectError(put, 400, 'invalid_input');
    assert.equal(put.body.details?.field, 'name');
    const after = await as(tenant, 'get', `/v1/users/${user.id}`).expect(200);
    assert.equal(after.body.name, user.name);
    assert.equal(await count(), before, 'nothing was created');
  });

  it('400 invalid_input for an avatar whose bytes are not its declared type', async () => {
    const gifAsPng = 'data:image/png;base64,R0lGODlhAQABAAAAACw=';
    const res = await as(tenant, 'post', '/v1/users').send({
      name: 'x',
      email: 'gif@x.example',
      roles: [],
      avatar: gifAsPng,
    });
    expectError(res, 400, 'invalid_input');
    assert.equal(res.body.details?.field, 'avatar');
  });

  it('400 invalid_input for malformed JSON and duplicate keys (security.md #18)', async () => {
    for (const raw of [
      '{',
      '[]',
      '{"name":"x",}',
      '{"name":"x","email":"x@x.example","roles":["user"],"roles":["admin"]}',
    ]) {
      const res = await as(tenant, 'post', '/v1/users')
        .set('content-type', 'application/json')
        .send(raw);
      expectError(res, 400, 'invalid_input');
    }
  });

  it('415 unsupported_media_type for non-JSON or non-UTF-8 bodies', async () => {
    for (const type of [
      'text/plain',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded',
    ]) {
      const res = await as(tenant, 'post', '/v1/users')
        .set('content-type', type)
        .send('{"name":"x"}');
      expectError(res, 415, 'unsupported_media_type');
    }
    const gz = await as(tenant, 'post', '/v1/users')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send('{}');
    expectError(gz, 415, 'unsupported_media_type');
  });

  it("Content-Encoding by the sidecar's rule: 415 unless every coding is identity", async () => {
    for (const enc of ['br', 'identity, gzip', 'x-anything']) {
      const res = await as(tenant, 'post', '/v1/users')
        .set('content-type', 'application/json')
        .set('content-encoding', enc)
        .send('{}');
      expectError(res, 415, 'unsupported_media_type');
    }
    const plain = await as(tenant, 'post', '/v1/users')
      .set('content-type', 'application/json')
      .set('content-encoding', 'identity, identity')
      .send('{}');
    // Read and judged as JSON: the empty body fails validation, not the encoding check.
    expectError(plain, 400, 'invalid_input');
  });

  it('413 payload_too_large for a body over the limit, declared or streamed', async () => {
    const small = makeApp({ bodyLimitBytes: 1024 });
    const big = JSON.stringify({ name: 'x'.repeat(2000), email: 'x@x.example', roles: [] });
    const res = await as(tenant, 'post', '/v1/users', small)
      .set('content-type', 'application/json')
      .send(big);
    expectError(res, 413, 'payload_too_large');
    // Chunked (no Content-Length): the limit holds while streaming.
    const chunked = as(tenant, 'post', '/v1/users', small).set('content-type', 'application/json');
    chunked.write(big.slice(0, 800));
    chunked.write(big.slice(800));
    expectError(await chunked, 413, 'payload_too_large');
  });

  it('413 payload_too_large for an avatar over 256 KiB inside an allowed body', async () => {
    const avatar = `data:image/png;base64,${'QUJD'.repeat(70_000)}`;
    const res = await as(tenant, 'post', '/v1/users').send({
      name: 'x',
      email: 'big@x.example',
      roles: [],
      avatar,
    });
    expectError(res, 413, 'payload_too_large');
    assert.equal(res.body.details?.field, 'avatar');
  });

  it('422 invalid_roles with details.invalid and details.allowed', async () => {
    const res = await as(tenant, 'post', '/v1/users').send({
      name: 'x',
      email: 'r@x.example',
      roles: ['user', 'root'],
    });
    expectError(res, 422, 'invalid_roles');
    assert.deepEqual(res.body.details, { invalid: ['root'], allowed: ROLES });
  });

  it('reads the allowed roles on every request (the schema may change)', async () => {
    let roles = ['user'];
    const dynamic = makeApp({ allowedRoles: () => roles });
    const body = { name: 'x', email: 'dyn@x.example', roles: ['auditor'] };
    expectError(await as(tenant, 'post', '/v1/users', dynamic).send(body), 422, 'invalid_roles');
    roles = ['user', 'auditor'];
    await as(tenant, 'post', '/v1/users', dynamic).send(body).expect(201);
  });

  it('500 internal when the store fails unexpectedly, without leaking the cause', async () => {
    const broken: UserStore = {
      ...store,
      getUser: () => Promise.reject(new Error('SQLITE_CORRUPT secret detail')),
    };
    const res = await as(tenant, 'get', `/v1/users/${ownerId}`, makeApp({ store: broken }));
    expectError(res, 500, 'internal');
    assert.doesNotMatch(JSON.stringify(res.body), /SQLITE_CORRUPT/);
  });
});

describe('backend app: list', () => {
  it('pages through every user once with limit and next_cursor', async () => {
    for (let i = 0; i < 5; i++) await createUser();
    const all = (await as(tenant, 'get', '/v1/users?limit=200').expect(200)).body as {
      users: User[];
      next_cursor: null;
    };
    assert.equal(all.next_cursor, null);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/v1/users?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await as(tenant, 'get', path).expect(200);
      assert.ok(page.body.users.length <= 2);
      seen.push(...(page.body.users as User[]).map((u) => u.id));
      cursor = page.body.next_cursor as string | null;
    } while (cursor !== null);
    assert.deepEqual(
      seen,
      all.users.map((u) => u.id),
    );
    assert.ok(all.users.every((u) => u.tenant_id === tenant));
  });

  it('defaults to 50 per page', async () => {
    while (((await as(tenant, 'get', '/v1/users?limit=200')).body.users as User[]).length < 51)
      await createUser();
    const page = await as(tenant, 'get', '/v1/users').expect(200);
    assert.equal(page.body.users.length, 50);
    assert.equal(typeof page.body.next_cursor, 'string');
  });

  it('400 invalid_input for a bad limit or cursor', async () => {
    for (const query of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'limit=1.5',
      'limit=-1',
      'limit=1&limit=2',
      'limit=',
      'cursor=garbage',
      'cursor=',
      'cursor=a&cursor=b',
    ]) {
      const res = await as(tenant, 'get', `/v1/users?${query}`);
      expectError(res, 400, 'invalid_input');
    }
  });
});

describe('backend app: update and delete', () => {
  it('PUT updates name, replaces roles, sets avatar; new ETag each time', async () => {
    const { user, etag } = await createUser({ roles: ['user', 'viewer'] });
    const avatar = 'data:image/png;base64,iVBORw0KGgo=';
    const res = await as(tenant, 'put', `/v1/users/${user.id}`)
      .send({ name: 'New', roles: ['viewer'], avatar })
      .expect(200);
    assert.equal(res.body.name, 'New');
    assert.deepEqual(res.body.roles, ['viewer']);
    assert.equal(res.body.avatar, avatar);
    assert.equal(res.body.email, user.email);
    assert.notEqual(res.headers['etag'], etag);
    const read = await as(tenant, 'get', `/v1/users/${user.id}`).expect(200);
    assert.deepEqual(read.body, res.body);
    assert.equal(read.headers['etag'], res.headers['etag']);
  });

  it('PUT honours If-Match: the current ETag or * passes, a stale one is 412', async () => {
    const { user, etag } = await createUser();
    const first = await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', etag)
      .send({ name: 'a' })
      .expect(200);
    const stale = await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', etag)
      .send({ name: 'b' });
    expectError(stale, 412, 'precondition_failed');
    await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', `"nope", ${first.headers['etag']}`)
      .send({ name: 'c' })
      .expect(200);
    await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', '*')
      .send({ name: 'd' })
      .expect(200);
    const weak = await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', `W/${etag}`)
      .send({ name: 'e' });
    expectError(weak, 412, 'precondition_failed');
    const read = await as(tenant, 'get', `/v1/users/${user.id}`).expect(200);
    assert.equal(read.body.name, 'd');
  });

  it('400 invalid_input for an If-Match that is not a list of entity tags', async () => {
    const { user } = await createUser();
    expectError(
      await as(tenant, 'put', `/v1/users/${user.id}`).set('if-match', 'abc').send({ name: 'a' }),
      400,
      'invalid_input',
    );
  });

  it('two PUTs with the same If-Match: one 200, one 412', async () => {
    const { user, etag } = await createUser();
    const results = await Promise.all(
      ['x', 'y'].map((name) =>
        as(tenant, 'put', `/v1/users/${user.id}`).set('if-match', etag).send({ name }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 412]);
    assert.equal(results.find((r) => r.status === 412)?.body.code, 'precondition_failed');
  });

  it('PUT bodies: at least one field; no email; unknown roles are 422', async () => {
    const { user } = await createUser();
    expectError(await as(tenant, 'put', `/v1/users/${user.id}`).send({}), 400, 'invalid_input');
    expectError(
      await as(tenant, 'put', `/v1/users/${user.id}`).send({ email: 'n@x.example' }),
      400,
      'invalid_input',
    );
    const res = await as(tenant, 'put', `/v1/users/${user.id}`).send({ roles: ['god'] });
    expectError(res, 422, 'invalid_roles');
    assert.deepEqual(res.body.details.invalid, ['god']);
  });

  it('follows the contract order: body (400) → target (404) → roles (422) → If-Match (412)', async () => {
    const { user, etag } = await createUser();
    // Bad body on a missing user: the body answers first.
    expectError(
      await as(tenant, 'put', `/v1/users/${MISSING}`).send({ bogus: 1 }),
      400,
      'invalid_input',
    );
    expectError(
      await as(tenant, 'put', `/v1/users/${MISSING}`).set('content-type', 'text/plain').send('x'),
      415,
      'unsupported_media_type',
    );
    // Unknown roles on a missing user: the target answers first.
    expectError(
      await as(tenant, 'put', `/v1/users/${MISSING}`).send({ roles: ['god'] }),
      404,
      'not_found',
    );
    // Unknown roles with a stale If-Match: roles answer first.
    await as(tenant, 'put', `/v1/users/${user.id}`).send({ name: 'bump' }).expect(200);
    const res = await as(tenant, 'put', `/v1/users/${user.id}`)
      .set('if-match', etag)
      .send({ roles: ['god'] });
    expectError(res, 422, 'invalid_roles');
  });

  it("PUT and DELETE never reach another tenant's user", async () => {
    expectError(
      await as(tenant, 'put', `/v1/users/${otherUserId}`).send({ name: 'stolen' }),
      404,
      'not_found',
    );
    expectError(
      await as(tenant, 'delete', `/v1/users/${otherUserId.toLowerCase()}`),
      404,
      'not_found',
    );
    const still = await as(otherTenant, 'get', `/v1/users/${otherUserId}`).expect(200);
    assert.equal(still.body.name, 'B user');
  });

  it('DELETE: 204, then 404; a stale If-Match is 412 and keeps the user', async () => {
    const { user, etag } = await createUser();
    await as(tenant, 'put', `/v1/users/${user.id}`).send({ name: 'bump' }).expect(200);
    expectError(
      await as(tenant, 'delete', `/v1/users/${user.id}`).set('if-match', etag),
      412,
      'precondition_failed',
    );
    await as(tenant, 'get', `/v1/users/${user.id}`).expect(200);
    const res = await as(tenant, 'delete', `/v1/users/${user.id}`).set('if-match', '*').expect(204);
    assert.equal(res.text, '');
    expectError(await as(tenant, 'get', `/v1/users/${user.id}`), 404, 'not_found');
    expectError(await as(tenant, 'delete', `/v1/users/${user.id}`), 404, 'not_found');
  });
});

describe('backend app: the owner invariant', () => {
  it('409 conflict: the owner cannot be deleted or lose admin, whatever the policies decided', async () => {
    const del = await as(tenant, 'delete', `/v1/users/${ownerId}`);
    expectError(del, 409, 'conflict');
    assert.equal(del.body.details.invariant, 'one_owner');
    const demote = await as(tenant, 'put', `/v1/users/${ownerId}`).send({ roles: ['user'] });
    expectError(demote, 409, 'conflict');
    assert.equal(demote.body.details.invariant, 'owner_is_admin');
    const owner = await as(tenant, 'get', `/v1/users/${ownerId}`).expect(200);
    assert.deepEqual(owner.body.roles, ['admin']);
    assert.equal(owner.body.is_owner, true);
    // adding a role keeps admin: allowed by the store (the policies decide whether it may happen)
    await as(tenant, 'put', `/v1/users/${ownerId}`)
      .send({ roles: ['admin', 'user'] })
      .expect(200);
    await as(tenant, 'put', `/v1/users/${ownerId}`)
      .send({ roles: ['admin'], name: 'Owner' })
      .expect(200);
  });
});

describe('backend app: logging', () => {
  it('logs each request with the tenant and the acting subject from the sidecar', async () => {
    const subject = '11111111-2222-4333-8444-555555555555';
    await as(tenant, 'get', `/v1/users/${ownerId}`).set('x-cedargate-subject', subject).expect(200);
    await new Promise((r) => setImmediate(r));
    const line = logLines.findLast((l) => l['msg'] === 'request');
    assert.equal(line?.['subject'], subject);
    assert.equal(line?.['tenant'], tenant);
    assert.equal(line?.['status'], 200);
  });
});

describe('backend app: list pages are bounded in bytes', () => {
  it('ends a page at PAGE_MAX_BYTES with a next_cursor; the cursors reach every user once', async () => {
    const {
      tenant: { id: t },
    } = await store.createTenant('Pages', {
      name: 'Pages owner',
      email: 'owner@pages.example',
      roles: ['admin'],
    });
    const avatar = `data:image/png;base64,${'QUJD'.repeat(1024)}`; // ~4 KiB
    for (let i = 0; i < 6; i++) {
      await store.createUser(t, {
        name: `P${i}`,
        email: `p${i}@pages.example`,
        roles: ['user'],
        avatar,
      });
    }
    const small = makeApp({ pageMaxBytes: 10_000 });
    const ids: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor === null ? '' : `&cursor=${cursor}`;
      const res = await as(t, 'get', `/v1/users?limit=200${q}`, small).expect(200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const page = JSON.parse(res.text) as { users: User[]; next_cursor: string | null };
      sizes.push(page.users.length);
      ids.push(...page.users.map((u) => u.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    assert.ok(sizes[0] !== undefined && sizes[0] < 7, `pages of ${sizes.join(', ')}`);
    assert.ok(sizes.length >= 3, `pages of ${sizes.join(', ')}`);
    assert.equal(ids.length, 7);
    assert.equal(new Set(ids).size, 7);
  });
});
