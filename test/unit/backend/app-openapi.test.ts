/**
 * docs/openapi.yaml against reality: real responses of the backend app, success and error,
 * validated with ajv against the schema the document gives for that path, method and status.
 */
// supertest types every res.body as `any`; these tests read it as the contract's JSON and
// their assertions fail on any other shape, so member access on it is what is being checked.
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { pino } from 'pino';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { createBackendApp } from '../../../src/backend/app.js';
import { openSqliteStore } from '../../../src/backend/store/sqlite.js';
import { TRUST_HEADER } from '../../../src/common/trust.js';
import { repoRoot, tempDir } from '../../helpers/process.js';

// ajv-formats is CommonJS with `export default`; under NodeNext the callable is `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, unknown> };
}

const doc = parseYaml(readFileSync(join(repoRoot, 'docs', 'openapi.yaml'), 'utf8')) as OpenApiDoc;
const SCHEMA_ID = 'https://cedargate.local/openapi';

// OpenAPI refs point into the document; ajv gets the component schemas as $defs of one schema.
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string'
          ? v.replace('#/components/schemas/', `${SCHEMA_ID}#/$defs/`)
          : rewriteRefs(v),
      ]),
    );
  }
  return value;
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
ajv.addSchema({
  $id: SCHEMA_ID,
  $defs: rewriteRefs(doc.components.schemas) as Record<string, unknown>,
});

function resolveResponse(ref: unknown): {
  content?: Record<string, { schema: unknown }>;
  headers?: Record<string, unknown>;
} {
  const r = ref as { $ref?: string };
  if (r.$ref !== undefined) {
    const name = r.$ref.replace('#/components/responses/', '');
    return doc.components.responses[name] as ReturnType<typeof resolveResponse>;
  }
  return r as ReturnType<typeof resolveResponse>;
}

/** Asserts the response is documented for (path, method, status) and its body matches. */
function assertDocumented(path: string, method: string, res: request.Response): void {
  const operation = doc.paths[path]?.[method];
  assert.ok(operation, `${method} ${path} is documented`);
  const documented = operation.responses[String(res.status)];
  assert.ok(documented, `${method} ${path} documents status ${res.status}`);
  const response = resolveResponse(documented);
  if (res.status === 204) return;
  const schema = response.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${path} ${res.status} has a JSON schema`);
  const validate = ajv.compile(rewriteRefs(schema) as object);
  assert.ok(
    validate(res.body),
    `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`,
  );
  if (response.headers?.['ETag'] !== undefined)
    assert.match(String(res.headers['etag']), /^"[^"]+"$/);
}

const SECRET = 'openapi-test-trust-secret';
const dir = tempDir('cedargate-openapi-');
const store = openSqliteStore(join(dir.path, 'data'));
const app = createBackendApp({
  store,
  allowedRoles: () => ['admin', 'user', 'viewer'],
  trustSecret: SECRET,
  logger: pino({ level: 'silent' }),
  bodyLimitBytes: 4096,
});
let tenant = '';
after(async () => {
  await store.close();
  dir.remove();
});
let ownerId = '';
before(async () => {
  const made = await store.createTenant('Acme', {
    name: 'O',
    email: 'o@acme.example',
    roles: ['admin'],
  });
  tenant = made.tenant.id;
  ownerId = made.owner.id;
});

const call = (method: 'get' | 'post' | 'put' | 'delete', url: string) =>
  request(app)[method](url).set(TRUST_HEADER, SECRET).set('x-tenant-id', tenant);

describe('docs/openapi.yaml', () => {
  it('is OpenAPI 3.1 and documents the five routes', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(
      Object.keys(doc.paths['/v1/users'] ?? {})
        .filter((k) => k !== 'parameters')
        .sort(),
      ['get', 'post'],
    );
    assert.deepEqual(
      Object.keys(doc.paths['/v1/users/{id}'] ?? {})
        .filter((k) => k !== 'parameters')
        .sort(),
      ['delete', 'get', 'put'],
    );
  });

  it('matches real success responses', async () => {
    const created = await call('post', '/v1/users').send({
      name: 'Ada',
      email: 'ada@acme.example',
      roles: ['user'],
      avatar: 'data:image/png;base64,iVBORw0KGgo=',
    });
    assert.equal(created.status, 201);
    assertDocumented('/v1/users', 'post', created);
    const id = created.body.id as string;
    assertDocumented('/v1/users', 'get', await call('get', '/v1/users?limit=1').expect(200));
    assertDocumented('/v1/users', 'get', await call('get', '/v1/users').expect(200));
    assertDocumented('/v1/users/{id}', 'get', await call('get', `/v1/users/${id}`).expect(200));
    assertDocumented(
      '/v1/users/{id}',
      'put',
      await call('put', `/v1/users/${id}`)
        .send({ roles: ['viewer'], avatar: null })
        .expect(200),
    );
    assertDocumented(
      '/v1/users/{id}',
      'delete',
      await call('delete', `/v1/users/${id}`).expect(204),
    );
  });

  it('matches real error responses, status by status', async () => {
    const { body: user, headers } = await call('post', '/v1/users')
      .send({ name: 'B', email: 'b@acme.example', roles: [] })
      .expect(201);
    const etag = headers['etag'] as string;
    await call('put', `/v1/users/${user.id}`).send({ name: 'bumped' }).expect(200);
    const missing = '00000000-0000-4000-8000-000000000000';
    const cases: [string, string, request.Test, number][] = [
      ['/v1/users', 'get', call('get', '/v1/users?limit=0'), 400],
      ['/v1/users', 'get', request(app).get('/v1/users').set('x-tenant-id', tenant), 401],
      ['/v1/users', 'post', call('post', '/v1/users').send({ name: 'x' }), 400],
      [
        '/v1/users',
        'post',
        call('post', '/v1/users').send({ name: 'x', email: 'b@acme.example', roles: [] }),
        409,
      ],
      [
        '/v1/users',
        'post',
        call('post', '/v1/users')
          .set('content-type', 'application/json')
          .send(`{"name":"${'x'.repeat(5000)}"}`),
        413,
      ],
      [
        '/v1/users',
        'post',
        call('post', '/v1/users').set('content-type', 'text/plain').send('hi'),
        415,
      ],
      [
        '/v1/users',
        'post',
        call('post', '/v1/users').send({ name: 'x', email: 'z@acme.example', roles: ['root'] }),
        422,
      ],
      [
        '/v1/users',
        'post',
        request(app)
          .post('/v1/users')
          .set(TRUST_HEADER, SECRET)
          .set('x-tenant-id', missing)
          .send({ name: 'x', email: 'z@acme.example', roles: [] }),
        404,
      ],
      ['/v1/users/{id}', 'get', call('get', '/v1/users/nope'), 400],
      ['/v1/users/{id}', 'get', call('get', `/v1/users/${missing}`), 404],
      [
        '/v1/users/{id}',
        'put',
        call('put', `/v1/users/${user.id}`).set('if-match', etag).send({ name: 'c' }),
        412,
      ],
      ['/v1/users/{id}', 'put', call('put', `/v1/users/${user.id}`).send({ roles: ['root'] }), 422],
      [
        '/v1/users/{id}',
        'delete',
        call('delete', `/v1/users/${user.id}`).set('if-match', etag),
        412,
      ],
      ['/v1/users/{id}', 'delete', call('delete', `/v1/users/${missing}`), 404],
      ['/v1/users/{id}', 'delete', call('delete', `/v1/users/${ownerId}`), 409],
      ['/v1/users/{id}', 'put', call('put', `/v1/users/${ownerId}`).send({ roles: [] }), 409],
    ];
    for (const [path, method, pending, status] of cases) {
      const res = await pending;
      assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assertDocumented(path, method, res);
    }
  });

  it('rejects bodies that break the documented schemas (the check can fail)', () => {
    const validate = ajv.getSchema(`${SCHEMA_ID}#/$defs/User`);
    assert.ok(validate);
    assert.equal(validate({ id: 'x' }), false);
    const error = ajv.getSchema(`${SCHEMA_ID}#/$defs/Error`);
    assert.ok(error);
    assert.equal(error({ code: 'teapot', message: 'x' }), false);
    assert.equal(error({ code: 'internal', message: 'x', extra: 1 }), false);
  });
});
