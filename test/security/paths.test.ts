/**
 * security.md lines 9, 10 and 27 through the real sidecar: every spelling of a policy-gated
 * route is refused (400/404) or decided as that route and forwarded as its canonical path;
 * unknown paths are 404 and never forwarded; and no spelling of an id lets one tenant reach
 * another's users.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import type { Reply, Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

/** Every spelling of `/v1/users/{id}` we know of from proxy bypass CVEs. */
function spellingsOf(id: string): string[] {
  const enc = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return [
    `/v1/users/../users/${id}`,
    `/v1/users/%2e%2e/users/${id}`,
    `/v1/users/%2E%2E/users/${id}`,
    `/v1/users/.%2e/users/${id}`,
    `/v1/x/../users/${id}`,
    `/v1/x/%2e%2e/users/${id}`,
    `/v1/users%2F${id}`,
    `/v1/users%2f${id}`,
    `/v1%2Fusers%2F${id}`,
    `/v1//users/${id}`,
    `//v1/users/${id}`,
    `/v1/users//${id}`,
    `/v1/users/${id};x=y`,
    `/v1/users;x=y/${id}`,
    `/v1/users/${id};`,
    `/V1/USERS/${id}`,
    `/v1/Users/${id}`,
    `/v1/users/${id}/`,
    `/v1/users/${id}%00`,
    `/v1/users/${id}%00.json`,
    `/v1/users/${id}%0a`,
    `/v1/users/${id}%0d%0aX-Injected:%201`,
    `/v1/users/${id}#frag`,
    `/v1/users/#/../${id}`,
    `/v1/./users/${id}`,
    `/./v1/users/${id}`,
    `/v1/users/./${id}`,
    `/v1/users/${id}/.`,
    `/v1/users/${id}/..`,
    `/v1/users/${id}/%2e`,
    `/v1/users/${enc(id[0] as string)}${id.slice(1)}`,
    `/${enc('v')}1/users/${id}`,
    `/v1/users/${id}%20`,
    `/v1/users/%20${id}`,
    `/v1/users/${id}%09`,
    `/v1/users\\${id}`,
    `/v1/users/%5c${id}`,
    `/v1/users/${id}?x=1`,
    `/v1/users/${id}?id=${id}`,
    `/v1/users/${id}%3Fx=1`,
    `/v1/users/${id}%2F..%2F..%2Fother`,
    `/v1/users/${id}/roles/../`,
    `/v1/users/${id}.json`,
    `/v1/users/${id}~`,
    `/v1/users/%u0041${id.slice(1)}`,
    `/v1/users/${id.slice(0, -1)}`,
    `/v1/users/${id}0`,
    `/v1/users/{${id}}`,
  ];
}

describe('paths and routing (security.md 9, 10, 27)', () => {
  let s: Stack;
  let tA: string;
  let tB: string;
  let ownerB: User;
  let victim: User;
  let bUser: User;
  const tok = {} as Record<'ownerA' | 'ownerB' | 'viewer', string>;

  before(async () => {
    const a = await startTenantStack('acme');
    s = a.stack;
    const b = await openTenant(s, 'globex');
    [tA, tB, ownerB] = [a.tenantId, b.tenantId, b.owner];
    [tok.ownerA, tok.ownerB] = [a.ownerToken, b.ownerToken];
    [{ user: victim }, { token: tok.viewer }] = await a.seed(
      ['Victim', ['user']],
      ['Viewer', ['viewer']],
    );
    [{ user: bUser }] = await b.seed(['Bea', ['user']]);
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  /** Refused (400/404 in the contract's format, nothing forwarded) or decided as the route and forwarded canonically. */
  function assertRefusedOrCanonical(
    r: Reply,
    what: string,
    canonical: string,
    allowedStatus: number[],
  ): void {
    const fwd = s.recorder.forwarded();
    if (r.status === 400 || r.status === 404) {
      assertError(r, r.status, r.status === 400 ? 'invalid_input' : 'not_found', what);
      assert.equal(
        fwd.length,
        0,
        `${what}: refused but forwarded ${JSON.stringify(fwd.map((f) => f.path))}`,
      );
      return;
    }
    assert.ok(allowedStatus.includes(r.status), `${what}: unexpected ${r.status} ${r.text}`);
    for (const f of fwd)
      assert.equal(f.path, canonical, `${what}: forwarded a spelling, not the canonical path`);
  }

  it('9. every spelling of GET /v1/users/{id} is refused or decided as that route, forwarded canonically', async () => {
    const canonical = `/v1/users/${victim.id.toUpperCase()}`;
    let decidedAsRoute = 0;
    for (const path of [...spellingsOf(victim.id), `/v1/users/${victim.id.toLowerCase()}`]) {
      s.recorder.clear();
      const r = await s.call('GET', path, { token: tok.viewer, tenant: tA });
      assertRefusedOrCanonical(r, `GET ${path}`, canonical, [200]);
      if (r.status === 200) decidedAsRoute++;
    }
    // The lower-case id is the same user: decided as the route, not refused.
    assert.ok(decidedAsRoute >= 1, 'the plain lower-case spelling should be decided as the route');
  });

  it('9. no spelling of a DENIED route reaches the backend (viewer deleting or renaming another user)', async () => {
    for (const path of [...spellingsOf(victim.id), `/v1/users/${victim.id.toLowerCase()}`]) {
      s.recorder.clear();
      const del = await s.call('DELETE', path, { token: tok.viewer, tenant: tA });
      assert.ok([400, 403, 404].includes(del.status), `DELETE ${path}: ${del.status} ${del.text}`);
      assert.equal(typeof del.body?.code, 'string', del.text);
      const put = await s.call('PUT', path, {
        token: tok.viewer,
        tenant: tA,
        body: { name: 'pwned' },
      });
      assert.ok([400, 403, 404].includes(put.status), `PUT ${path}: ${put.status} ${put.text}`);
      assert.equal(s.recorder.forwarded().length, 0, `DELETE/PUT ${path} forwarded`);
    }
    const still = await s.call('GET', `/v1/users/${victim.id}`, { token: tok.ownerA, tenant: tA });
    assert.equal(still.status, 200);
    assert.equal(still.body.name, 'Victim');
  });

  it('9. spellings of the list route; the query is rebuilt, never passed through', async () => {
    const cases = [
      '/v1/users/',
      '/v1/users;',
      '/v1/users/.',
      '/V1/users',
      '/v1/users%2f',
      '/v1/users?limit=1&limit=2',
      '/v1/users?limit=0',
      '/v1/users?limit=1e2',
      '/v1/users?tenant=x',
      '/v1/users?cursor=../../x',
      '/v1/users#x',
    ];
    for (const path of cases) {
      s.recorder.clear();
      assertRefusedOrCanonical(
        await s.call('GET', path, { token: tok.viewer, tenant: tA }),
        `GET ${path}`,
        '/v1/users',
        [200],
      );
    }
    s.recorder.clear();
    const ok = await s.call('GET', '/v1/users?limit=2&', { token: tok.viewer, tenant: tA });
    assertRefusedOrCanonical(ok, 'GET /v1/users?limit=2&', '/v1/users?limit=2', [200]);
  });

  it('9. request targets that are not origin-form paths, over a raw socket', async () => {
    const port = Number(new URL(s.url).port);
    const headers: [string, string][] = [
      ['Host', 'x'],
      ['Authorization', `Bearer ${tok.viewer}`],
      ['X-Tenant-ID', tA],
    ];
    const targets = [
      `http://127.0.0.1/v1/users/${victim.id}`,
      `http://evil.example/v1/users/${victim.id}`,
      `v1/users/${victim.id}`,
      '*',
      `/v1/users/${victim.id}\tHTTP/1.1`,
      `/v1/users/${victim.id}\u00ff`,
    ];
    for (const target of targets) {
      s.recorder.clear();
      const ex = await sendRaw(
        port,
        rawRequestText('DELETE', target, [...headers, ['Connection', 'close']]),
        { idleMs: 1000 },
      );
      assert.equal(ex.responses.length, 1, `${target}: ${ex.text}`);
      const r = ex.responses[0]!;
      assert.ok(r.status === 400 || r.status === 404, `${target}: ${r.status} ${r.body}`);
      assertError(r, r.status, r.status === 400 ? 'invalid_input' : 'not_found', target);
      assert.equal(s.recorder.forwarded().length, 0, target);
    }
    // A raw CR/LF in the target ends the request line: the parser refuses, nothing is forwarded.
    const split = await sendRaw(
      port,
      `GET /v1/users/${victim.id}\r\nX: y HTTP/1.1\r\nHost: x\r\n\r\n`,
      { idleMs: 1000 },
    );
    assert.ok(
      split.responses.every((r) => r.status >= 400),
      split.text,
    );
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('10. paths the route table does not know → 404, known paths with another method → 405 with Allow; never forwarded', async () => {
    const unknown: [string, string][] = [
      ['GET', '/'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/status'],
      ['GET', '/openapi.yaml'],
      ['GET', '/v1'],
      ['GET', '/v1/tenants'],
      ['GET', '/v2/users'],
      ['GET', `/v1/users/${victim.id}/roles`],
      ['PUT', `/v1/users/${victim.id}/roles`],
      ['POST', `/v1/users/${victim.id}`],
      ['PATCH', `/v1/users/${victim.id}`],
      ['DELETE', '/v1/users'],
      ['PUT', '/v1/users'],
      ['OPTIONS', `/v1/users/${victim.id}`],
      ['TRACE', '/v1/users'],
      ['HEAD', '/v1/users'],
      ['PROPFIND', '/v1/users'],
    ];
    // A path the table knows, asked with another method, is 405 with Allow (contract §4);
    // every other one 404. Neither is ever forwarded.
    const knownPath = (path: string): string | undefined =>
      path === '/v1/users'
        ? 'GET, POST'
        : path === `/v1/users/${victim.id}`
          ? 'GET, PUT, DELETE'
          : undefined;
    for (const [method, path] of unknown) {
      s.recorder.clear();
      const r = await s.call(method, path, { token: tok.ownerA, tenant: tA });
      const allow = knownPath(path);
      const [status, code] = allow === undefined ? [404, 'not_found'] : [405, 'method_not_allowed'];
      assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.text}`);
      if (method !== 'HEAD') assertError(r, status, code, `${method} ${path}`);
      if (allow !== undefined) assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(s.recorder.forwarded().length, 0, `${method} ${path} was forwarded`);
    }
    // CONNECT is not a route either, and never tunnels anywhere.
    s.recorder.clear();
    const port = Number(new URL(s.url).port);
    const ex = await sendRaw(
      port,
      rawRequestText('CONNECT', '127.0.0.1:22', [
        ['Host', '127.0.0.1:22'],
        ['Authorization', `Bearer ${tok.ownerA}`],
        ['X-Tenant-ID', tA],
      ]),
      { idleMs: 1000 },
    );
    assert.ok(
      ex.responses.every((r) => r.status >= 400),
      ex.text,
    );
    assert.ok(!/^HTTP\/1\.1 2/.test(ex.text), 'CONNECT was answered with a 2xx');
    assert.equal(s.recorder.all.length, 0);
  });

  it('27. ids that try to climb into another tenant → 400/404, never forwarded', async () => {
    const climbs = [
      '..%2f..%2fother-tenant%2fu1',
      `..%2f..%2f${tB}%2f${bUser.id}`,
      `..%2F${tB}%2F${bUser.id}`,
      `${tB}%2f${bUser.id}`,
      `${bUser.id}%2f..%2f${victim.id}`,
      `..;/${bUser.id}`,
      `%2e%2e%2f${bUser.id}`,
      `${bUser.id}%00${victim.id}`,
      `${bUser.id}%23`,
    ];
    for (const id of climbs) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        s.recorder.clear();
        const o: Parameters<Stack['call']>[2] = { token: tok.ownerA, tenant: tA };
        if (method === 'PUT') o.body = { name: 'pwned' };
        const r = await s.call(method, `/v1/users/${id}`, o);
        assert.ok(r.status === 400 || r.status === 404, `${method} ${id}: ${r.status} ${r.text}`);
        assertError(
          r,
          r.status,
          r.status === 400 ? 'invalid_input' : 'not_found',
          `${method} ${id}`,
        );
        assert.equal(s.recorder.forwarded().length, 0, `${method} ${id} forwarded`);
      }
    }
  });

  it('27. one tenant never reads or writes another’s users, by any path', async () => {
    // By id, with its own tenant header: the other tenant's user does not exist here.
    for (const id of [bUser.id, bUser.id.toLowerCase(), ownerB.id]) {
      assertError(
        await s.call('GET', `/v1/users/${id}`, { token: tok.ownerA, tenant: tA }),
        404,
        'not_found',
      );
      assertError(
        await s.call('PUT', `/v1/users/${id}`, {
          token: tok.ownerA,
          tenant: tA,
          body: { name: 'pwned', roles: ['admin'] },
        }),
        404,
        'not_found',
      );
      assertError(
        await s.call('DELETE', `/v1/users/${id}`, { token: tok.ownerA, tenant: tA }),
        404,
        'not_found',
      );
    }
    // By header: the credential names tenant A.
    assertError(
      await s.call('GET', `/v1/users/${bUser.id}`, { token: tok.ownerA, tenant: tB }),
      403,
      'tenant_mismatch',
    );
    // By body: a tenant_id field is not part of the API.
    assertError(
      await s.call('POST', '/v1/users', {
        token: tok.ownerA,
        tenant: tA,
        body: { name: 'M', email: 'm@x.test', roles: ['user'], tenant_id: tB },
      }),
      400,
      'invalid_input',
    );
    // By listing: A's list holds A's users only, on every page.
    let cursor: string | null = null;
    const seen: User[] = [];
    do {
      const path: string =
        cursor === null
          ? '/v1/users?limit=1'
          : `/v1/users?limit=1&cursor=${encodeURIComponent(cursor)}`;
      const page = await s.call('GET', path, { token: tok.ownerA, tenant: tA });
      assert.equal(page.status, 200, page.text);
      seen.push(...page.body.users);
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    assert.ok(seen.length >= 3);
    assert.ok(
      seen.every((u) => u.tenant_id.toUpperCase() === tA.toUpperCase()),
      'a list crossed tenants',
    );
    // Nothing of B's changed.
    const b = await s.call('GET', `/v1/users/${bUser.id}`, { token: tok.ownerB, tenant: tB });
    assert.equal(b.status, 200);
    assert.equal(b.body.name, 'Bea');
    assert.deepEqual(b.body.roles, ['user']);
  });
});
