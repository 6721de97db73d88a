import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CedargateError } from '../../../src/errors.js';
import {
  allowedMethods,
  canonicalPath,
  matchRoute,
  readQuery,
} from '../../../src/sidecar/routes.js';

const ID = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';

describe('matchRoute', () => {
  it('maps each method and template to its action', () => {
    assert.equal(matchRoute('GET', '/v1/users')?.route.action, 'users:list');
    assert.equal(matchRoute('GET', '/v1/users?limit=5')?.route.action, 'users:list');
    assert.equal(matchRoute('POST', '/v1/users')?.route.action, 'users:create');
    assert.equal(matchRoute('GET', `/v1/users/${ID}`)?.route.action, 'users:read');
    assert.equal(matchRoute('PUT', `/v1/users/${ID}`)?.route.action, 'users:update');
    assert.equal(matchRoute('DELETE', `/v1/users/${ID}`)?.route.action, 'users:delete');
    assert.equal(matchRoute('PUT', `/v1/users/${ID}`)?.rawId, ID);
  });

  it('refuses every other spelling of a gated route (security.md #9, #10)', () => {
    const spellings = [
      `/v1/users/${ID}/`,
      `/v1/users//${ID}`,
      `//v1/users/${ID}`,
      `/v1/users/../users/${ID}`,
      `/v1/users/./${ID}`,
      `/v1/users/%2e%2e/${ID}`,
      `/v1/users%2F${ID}`,
      `/v1/users/${ID}%2F`,
      `/v1/users/${ID};admin=true`,
      `/V1/USERS/${ID}`,
      `/v1/users/${ID}%00`,
      `/v1/users/${ID}%0a`,
      `/v1/users/${ID}#frag`,
      `/v1/users/..%2f..%2fother-tenant%2fu1`,
      `http://evil/v1/users/${ID}`,
      `*`,
      `/v1/users/${ID}/roles`,
      '/v1',
      '/',
    ];
    for (const target of spellings) {
      assert.equal(matchRoute('PUT', target), undefined, target);
    }
    assert.equal(matchRoute('PATCH', `/v1/users/${ID}`), undefined);
    assert.equal(matchRoute('HEAD', '/v1/users'), undefined);
    assert.equal(matchRoute(undefined, '/v1/users'), undefined);
  });

  it('builds the forwarded path from the template, never the raw target', () => {
    const m = matchRoute('GET', '/v1/users?cursor=abc&limit=2');
    assert.ok(m);
    assert.equal(
      canonicalPath(m.route, undefined, new URLSearchParams({ limit: '2' })),
      '/v1/users?limit=2',
    );
    const put = matchRoute('PUT', `/v1/users/${ID.toLowerCase()}`);
    assert.ok(put);
    assert.equal(canonicalPath(put.route, ID), `/v1/users/${ID}`);
  });
});

describe('readQuery: the route table says which parameters a route takes', () => {
  const list = matchRoute('GET', '/v1/users');
  const read = matchRoute('GET', `/v1/users/${ID}`);
  const invalid = (parameter: string) => (e: unknown) =>
    e instanceof CedargateError &&
    e.code === 'invalid_input' &&
    e.details?.['parameter'] === parameter;

  it('keeps the list parameters, each checked by its rule', () => {
    assert.ok(list);
    assert.equal(readQuery(list.route, ''), undefined);
    assert.equal(readQuery(list.route, 'limit=2&cursor=abc')?.toString(), 'limit=2&cursor=abc');
    assert.throws(() => readQuery(list.route, 'limit=201'), invalid('limit'));
    assert.throws(() => readQuery(list.route, 'cursor=../x'), invalid('cursor'));
  });

  it('refuses an unknown or repeated parameter, and any query on a route that takes none', () => {
    assert.ok(list && read);
    assert.throws(() => readQuery(list.route, 'tenant=x'), invalid('tenant'));
    assert.throws(() => readQuery(list.route, 'limit=1&limit=2'), invalid('limit'));
    assert.throws(() => readQuery(list.route, 'toString=1'), invalid('toString'));
    assert.throws(() => readQuery(read.route, 'limit=1'), invalid('limit'));
  });
});

describe('the permissions routes', () => {
  it('are answered by the sidecar, admitted as the read and list they stand for', () => {
    const tenant = matchRoute('GET', '/v1/users/permissions');
    assert.equal(tenant?.route.answer, 'permissions');
    assert.equal(tenant?.route.action, 'users:list');
    const user = matchRoute('GET', `/v1/users/${ID}/permissions`);
    assert.equal(user?.route.answer, 'permissions');
    assert.equal(user?.route.action, 'users:read');
    assert.equal(user?.rawId, ID);
    assert.equal(matchRoute('GET', `/v1/users/${ID}`)?.route.answer, undefined);
    for (const target of [`/v1/users/${ID}/permissions/`, `/v1/users/${ID}/Permissions`]) {
      assert.equal(matchRoute('GET', target), undefined, target);
    }
    assert.equal(matchRoute('PUT', `/v1/users/${ID}/permissions`), undefined);
  });
});

describe('allowedMethods (405 and Allow for a known path)', () => {
  it('lists the table methods of exactly this path, in table order', () => {
    assert.deepEqual(allowedMethods('/v1/users'), ['GET', 'POST']);
    assert.deepEqual(allowedMethods('/v1/users?limit=2'), ['GET', 'POST']);
    assert.deepEqual(allowedMethods(`/v1/users/${ID}`), ['GET', 'PUT', 'DELETE']);
  });
  it('knows no spelling the route table refuses', () => {
    for (const t of [
      '/v1/users/',
      '/v1//users',
      `/v1/users/${ID}/roles`,
      '/v1/users/a%2Fb',
      '*',
      '/',
      '/v1/Users',
    ])
      assert.deepEqual(allowedMethods(t), [], t);
  });
});
