/**
 * security.md lines 25 and 26 with the sidecar in front:
 * 25. two PUTs with the same If-Match → one 200, one 412; 100 concurrent updates of one user →
 *     no lost update, and the final state is exactly one request's body, whole.
 * 26. `kill -9` of the backend (its own process) during a stream of writes acknowledged through
 *     the sidecar → after a restart every acknowledged write is there, and the sidecar, which
 *     answered 502 meanwhile, serves again by itself.
 * (test/e2e/backend.test.ts has the backend-alone versions.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, type Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError, versionOf } from '../helpers/contract.js';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';

describe('concurrent writes through the sidecar (security.md 25)', () => {
  let s: Stack;
  let tA: string;
  let tok: string;

  before(async () => {
    ({ stack: s, tenantId: tA, ownerToken: tok } = await startTenantStack('acme'));
  });
  after(async () => s?.stop());

  it('two PUTs with the same If-Match: one 200, one 412 precondition_failed', async () => {
    const u = await s.createUser(tA, tok, 'Race', ['user']);
    const etag = (await s.call('GET', `/v1/users/${u.id}`, { token: tok, tenant: tA })).headers.get(
      'etag',
    ) as string;
    for (let round = 0; round < 3; round++) {
      const current =
        round === 0
          ? etag
          : ((await s.call('GET', `/v1/users/${u.id}`, { token: tok, tenant: tA })).headers.get(
              'etag',
            ) as string);
      const [a, b] = await Promise.all(
        ['one', 'two'].map((name) =>
          s.call('PUT', `/v1/users/${u.id}`, {
            token: tok,
            tenant: tA,
            body: { name: `${name} ${round}` },
            headers: { 'if-match': current },
          }),
        ),
      );
      const statuses = [a!.status, b!.status].sort();
      assert.deepEqual(statuses, [200, 412], `${a!.text} / ${b!.text}`);
      assertError(
        [a!, b!].find((r) => r.status === 412)!,
        412,
        'precondition_failed',
      );
    }
  });

  it('32 concurrent writers without If-Match on 5 users through one sidecar: zero 412s, every write applied (security.md 29)', async () => {
    const users = await Promise.all(
      [0, 1, 2, 3, 4].map((k) => s.createUser(tA, tok, `Contended ${k}`, ['user'])),
    );
    s.recorder.clear();
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    await Promise.all(
      Array.from({ length: 32 }, async (_, w) => {
        for (let n = 0; n < 12; n++) {
          const u = users[(w + n) % users.length]!;
          const r = await s.call('PUT', `/v1/users/${u.id}`, {
            token: tok,
            tenant: tA,
            body: { roles: (w + n) % 2 === 0 ? ['viewer'] : ['user'] },
          });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status !== 200 && bad.length < 3) bad.push(`${r.status} ${r.text}`);
        }
      }),
    );
    assert.equal(
      statuses.get(412) ?? 0,
      0,
      `412 to clients that sent no If-Match: ${bad.join(' | ')}`,
    );
    assert.deepEqual([...statuses.entries()], [[200, 32 * 12]], bad.join(' | '));
    // Each write was decided and applied on the version it changed: one backend PUT per request.
    assert.equal(s.recorder.forwarded().filter((x) => x.method === 'PUT').length, 32 * 12);
    // A client that did send a stale If-Match still gets its 412, and nothing is forwarded.
    const cur = await s.call('GET', `/v1/users/${users[0]!.id}`, { token: tok, tenant: tA });
    const stale = cur.headers
      .get('etag')!
      .replace(/\.(\d+)"$/, (_m, v: string) => `.${Number(v) - 1}"`);
    s.recorder.clear();
    const r = await s.call('PUT', `/v1/users/${users[0]!.id}`, {
      token: tok,
      tenant: tA,
      body: { roles: ['viewer'] },
      headers: { 'if-match': stale },
    });
    assertError(r, 412, 'precondition_failed', 'a stale If-Match the client sent');
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('100 concurrent updates of one user: no lost update; the final state is one request, whole', async () => {
    const u = await s.createUser(tA, tok, 'Busy', ['user']);
    const startVersion = versionOf(
      (await s.call('GET', `/v1/users/${u.id}`, { token: tok, tenant: tA })).headers.get('etag'),
    );
    const bodyOf = (i: number) => ({
      name: `writer ${i}`,
      roles: i % 2 === 0 ? ['user'] : ['viewer'],
    });
    s.recorder.clear();
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        // Each writer retries on 412 with a fresh ETag, as a client should.
        for (let attempt = 0; attempt < 400; attempt++) {
          const cur = await s.call('GET', `/v1/users/${u.id}`, { token: tok, tenant: tA });
          const r = await s.call('PUT', `/v1/users/${u.id}`, {
            token: tok,
            tenant: tA,
            body: bodyOf(i),
            headers: { 'if-match': cur.headers.get('etag') as string },
          });
          if (r.status === 200) return { i, version: versionOf(r.headers.get('etag')) };
          // One principal may hold only a small share of a user's write queue (issue 22 item 2):
          // past it, 503 with Retry-After, which a client retries like a 412.
          if (r.status === 503) {
            assertError(r, 503, 'unavailable', `writer ${i}`);
            assert.ok(
              r.headers.get('retry-after') !== null,
              `writer ${i}: 503 without Retry-After`,
            );
            await new Promise((done) => setTimeout(done, 20));
            continue;
          }
          assertError(r, 412, 'precondition_failed', `writer ${i}`);
        }
        throw new Error(`writer ${i} never got through`);
      }),
    );
    const versions = results.map((r) => r.version).sort((x, y) => x - y);
    // Every acknowledged write made exactly one new version: none was applied twice or lost.
    assert.deepEqual(
      versions,
      Array.from({ length: 100 }, (_, k) => startVersion + 1 + k),
    );
    const final = await s.call('GET', `/v1/users/${u.id}`, { token: tok, tenant: tA });
    assert.equal(versionOf(final.headers.get('etag')), startVersion + 100);
    const last = results.find((r) => r.version === startVersion + 100)!;
    const expected = bodyOf(last.i);
    assert.equal(final.body.name, expected.name, 'the final state is the last acknowledged write');
    assert.deepEqual(final.body.roles, expected.roles, 'name and roles come from the same request');
    // The backend received only decided writes: one forwarded PUT per sidecar decision, never a blind one.
    for (const f of s.recorder.forwarded().filter((x) => x.method === 'PUT')) {
      assert.match(String(f.headers['if-match']), /^".+"$/);
    }
  });
});

describe('kill -9 of the backend under acknowledged writes through the sidecar (security.md 26)', () => {
  let st: SplitStack;
  before(async () => {
    st = await startSplitStack({ env: { UPSTREAM_TIMEOUT_MS: '2000' } });
  });
  after(async () => st?.stop());

  it('every write acknowledged through the sidecar survives kill -9 and a restart', async () => {
    const a = await st.createTenant('acme');
    const tok = await st.token(a.tenantId, a.owner.id);
    const port = Number(new URL(st.url).port);
    const headers = {
      authorization: `Bearer ${tok}`,
      'x-tenant-id': a.tenantId,
      'content-type': 'application/json',
    };
    const acknowledged: string[] = [];
    const failures: number[] = [];
    let killed = false;
    // Four concurrent writers, so that the kill lands while writes are in flight.
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; failures.length < 8; i++) {
          const body = JSON.stringify({
            name: `w${w}-${i}`,
            email: `w${w}-${i}@acme.test`,
            roles: ['user'],
          });
          const r = await rawRequest(port, 'POST', '/v1/users', headers, body).catch(() => ({
            status: 0,
            text: '',
            headers: new Headers(),
          }));
          if (r.status === 201) acknowledged.push((JSON.parse(r.text) as { id: string }).id);
          else {
            assert.ok(
              [0, 502, 503, 504].includes(r.status),
              `during the crash: ${r.status} ${r.text}`,
            );
            if (r.status !== 0)
              assert.match(r.text, /"code":"upstream_(unavailable|timeout)"|"code":"unavailable"/);
            failures.push(r.status);
          }
          if (acknowledged.length >= 60 && !killed) {
            killed = true;
            st.backend.child.kill('SIGKILL');
          }
        }
      }),
    );
    assert.ok(killed && acknowledged.length >= 60, `acknowledged ${acknowledged.length}`);
    await st.backend.exited;
    await st.startBackend();
    // The sidecar was not restarted: it must serve again by itself.
    for (const id of acknowledged) {
      const r = await rawRequest(port, 'GET', `/v1/users/${id}`, {
        authorization: `Bearer ${tok}`,
        'x-tenant-id': a.tenantId,
      });
      assert.equal(r.status, 200, `acknowledged write ${id} lost: ${r.status} ${r.text}`);
    }
    assert.equal(st.sidecar.child.exitCode, null);
  });
});
