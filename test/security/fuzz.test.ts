/**
 * security.md line 19: property-based fuzzing (fast-check) of paths, headers and JSON bodies
 * against the running sidecar. Whatever comes in: no 5xx, no crash, every error in the
 * contract's body, and nothing the policies deny (or the checks refuse) reaches the backend.
 * A few thousand runs by default; FUZZ_RUNS=<n> sets the runs of each property, FUZZ_SEED
 * replays one.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import type { User } from '../../src/common/user.js';
import { validateUserPatch } from '../../src/common/validate.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import type { Reply, Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';
import { assertContract4xx } from '../helpers/contract.js';
import { fuzzParameters, fuzzRuns } from '../helpers/fuzz.js';

const params = (defaultRuns: number): fc.Parameters<unknown> =>
  fuzzParameters(fuzzRuns(defaultRuns));

/** What a forwarded request's path may look like: a route's canonical path, nothing else. */
const CANONICAL =
  /^\/v1\/users(?:\/[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})?(?:\?(?:limit=[1-9]\d{0,2}|cursor=[A-Za-z0-9_=.-]+)(?:&(?:limit=[1-9]\d{0,2}|cursor=[A-Za-z0-9_=.-]+))?)?$/;

describe('fuzzing the running sidecar (security.md 19)', { timeout: 120_000 }, () => {
  let s: Stack;
  let port: number;
  let tA: string;
  let owner: User;
  let viewer: User;
  let other: User;
  let tok: { viewer: string; foreign: string };

  before(async () => {
    const a = await startTenantStack('acme');
    ({ stack: s, tenantId: tA, owner } = a);
    port = Number(new URL(s.url).port);
    const [v, o] = await a.seed(['Viewer', ['viewer']], ['Other', ['user']]);
    [viewer, other] = [v.user, o.user];
    const b = await openTenant(s, 'globex');
    // A valid credential of another tenant: the only other identity the fuzzer may send, so that
    // anything it gets forwarded can only be the viewer's (who may write nothing but their own name).
    tok = { viewer: v.token, foreign: b.ownerToken };
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  async function assertStillServing(): Promise<void> {
    assert.equal(s.process.child.exitCode, null, `the sidecar exited:\n${s.process.output()}`);
    const r = await s.call('GET', `/v1/users/${other.id}`, { token: tok.viewer, tenant: tA });
    assert.equal(r.status, 200, r.text);
  }

  function assertNoServerError(r: Reply, what: string): void {
    assert.ok(r.status >= 200 && r.status < 500, `${what}: ${r.status} ${r.text}`);
    if (r.status >= 400 && r.text !== '') assertContract4xx(r, what);
  }

  it('paths: any target, any method → no 5xx; forwarded only as a canonical, allowed route', async () => {
    const id = other.id;
    const segment = fc.oneof(
      fc.constantFrom(
        'v1',
        'users',
        'V1',
        'Users',
        id,
        id.toLowerCase(),
        owner.id,
        '..',
        '.',
        '%2e%2e',
        '%2E',
        '.%2e',
        '%2F',
        '%2f',
        '',
        ';x=1',
        '%00',
        '%0a',
        '%0d%0a',
        '%20',
        '\\',
        '%5c',
        '%u002e',
        'roles',
        '%25',
        '*',
        '~',
        '@',
        '..;',
      ),
      fc.stringMatching(/^[A-Za-z0-9%._~;=:@!$&'()*+,-]{0,12}$/),
    );
    const target = fc
      .tuple(
        fc.array(segment, { minLength: 0, maxLength: 6 }),
        fc.option(fc.stringMatching(/^[A-Za-z0-9%&=;.+_-]{0,24}$/), { nil: undefined }),
        fc.boolean(),
      )
      .map(
        ([segs, query, frag]) =>
          `/${segs.join('/')}${query === undefined ? '' : `?${query}`}${frag ? '#f' : ''}`,
      );
    const method = fc.constantFrom(
      'GET',
      'PUT',
      'POST',
      'DELETE',
      'PATCH',
      'HEAD',
      'OPTIONS',
      'TRACE',
      'get',
      'Delete',
    );
    await fc.assert(
      fc.asyncProperty(method, target, async (m, path) => {
        s.recorder.clear();
        const o: Parameters<Stack['call']>[2] = { token: tok.viewer, tenant: tA };
        if (m === 'PUT' || m === 'POST') o.body = { name: 'fuzz' };
        let r: Reply;
        try {
          r = await s.call(m, path, o);
        } catch (err) {
          // node's client refused to send it (e.g. a lower-case method it rejects): not a server case.
          fc.pre(!String(err).includes('ERR_'));
          throw err;
        }
        assertNoServerError(r, `${m} ${path}`);
        for (const f of s.recorder.forwarded()) {
          assert.equal(
            f.method,
            'GET',
            `${m} ${path}: the viewer's ${f.method} was forwarded (every write of another user is denied)`,
          );
          assert.match(f.path, CANONICAL, `${m} ${path}: forwarded a non-canonical path`);
        }
      }),
      params(1500),
    );
    await assertStillServing();
  });

  it('headers: any extra, repeated or garbled header → no 5xx, contract errors, identity never spoofed', async () => {
    const names = fc.constantFrom(
      'Authorization',
      'X-Tenant-ID',
      'x-tenant-id',
      'Content-Type',
      'Connection',
      'Expect',
      'Upgrade',
      'TE',
      'Host',
      'X-Cedargate-Subject',
      'X-Cedargate-Trust',
      'X-Cedargate-Decision',
      'X-Forwarded-For',
      'Forwarded',
      'X-HTTP-Method-Override',
      'If-Match',
      'If-None-Match',
      'X-Request-ID',
      'Accept',
      'Cookie',
      'Trailer',
      'Keep-Alive',
      'Range',
    );
    const byte = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
      { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
      { weight: 1, arbitrary: fc.constantFrom(0x00, 0x01, 0x09, 0x0b, 0x7f, 0x1b) },
    );
    const value = fc.oneof(
      fc.array(byte, { maxLength: 60 }).map((bs) => Buffer.from(bs).toString('latin1')),
      fc.constantFrom(
        tA,
        tA.toLowerCase(),
        `${tA}, ${tA}`,
        `Bearer ${tok.viewer}`,
        `Bearer ${tok.foreign}`,
        `bearer  ${tok.viewer}`,
        'close, X-Tenant-ID',
        '100-continue',
        'websocket',
        '*',
        '"x"',
        '',
        viewer.id,
        owner.id,
      ),
    );
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), name: names, value }),
      fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('dup' as const), index: fc.nat() }),
    );
    const paths = fc.constantFrom(`/v1/users/${other.id}`, '/v1/users', `/v1/users/${owner.id}`);
    const methods = fc.constantFrom('GET', 'DELETE');
    await fc.assert(
      fc.asyncProperty(
        methods,
        paths,
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        async (method, path, muts) => {
          s.recorder.clear();
          const headers: [string, string][] = [
            ['Host', 'x'],
            ['Authorization', `Bearer ${tok.viewer}`],
            ['X-Tenant-ID', tA],
          ];
          for (const m of muts) {
            if (m.kind === 'add') headers.push([m.name, m.value]);
            else if (headers.length > 0 && m.kind === 'drop')
              headers.splice(m.index % headers.length, 1);
            else if (headers.length > 0) headers.push(headers[m.index % headers.length]!);
          }
          headers.push(['Connection', 'close']);
          const ex = await sendRaw(port, rawRequestText(method, path, headers), {
            untilResponses: 1,
            idleMs: 3000,
          });
          const what = `${method} ${path} ${JSON.stringify(headers)}`;
          assert.equal(ex.responses.length, 1, `${what}: no answer: ${JSON.stringify(ex.text)}`);
          const r = ex.responses[0]!;
          assert.ok(r.status >= 200 && r.status < 500, `${what}: ${r.status} ${r.body}`);
          if (r.status >= 400) assertContract4xx(r, what);
          for (const f of s.recorder.forwarded()) {
            assert.equal(f.method, 'GET', `${what}: a viewer's ${f.method} was forwarded`);
            assert.equal(
              f.headers['x-cedargate-subject'],
              viewer.id.toUpperCase(),
              `${what}: subject`,
            );
            assert.equal(f.headers['x-tenant-id'], tA.toUpperCase(), `${what}: tenant`);
          }
        },
      ),
      params(1000),
    );
    await assertStillServing();
  });

  it('JSON bodies: anything → no 5xx; denied never forwarded; allowed forwarded as the validated object', async () => {
    const valid = fc.record(
      {
        name: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('Viewer'), fc.integer()),
        roles: fc.array(fc.constantFrom('viewer', 'user', 'admin', 'superuser', '', 'Viewer'), {
          maxLength: 4,
        }),
        avatar: fc.oneof(
          fc.constant(null),
          fc.constant('data:image/png;base64,AAAA'),
          fc.string({ maxLength: 20 }),
        ),
        email: fc.emailAddress(),
        tenant_id: fc.constant(tA),
        is_owner: fc.boolean(),
      },
      { requiredKeys: [] },
    );
    const mutate = (text: string, at: number, insert: string, drop: number) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(i + (drop % 3));
    };
    const body = fc.oneof(
      valid.map((o) => JSON.stringify(o)),
      fc.json({ maxDepth: 3 }),
      fc
        .tuple(
          valid.map((o) => JSON.stringify(o)),
          fc.nat(),
          fc.string({ maxLength: 3 }),
          fc.nat(),
        )
        .map(([t, at, ins, d]) => mutate(t, at, ins, d)),
      fc.string({ maxLength: 60 }),
      fc.constantFrom(
        '{"roles":["viewer"],"roles":["admin"]}',
        '{"name":"a","name":"b"}',
        '{"__proto__":{"roles":["admin"]}}',
      ),
    );
    const contentType = fc.oneof(
      { weight: 6, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'text/plain',
          'application/json; charset=utf-16',
          'application/json; charset=utf-8',
          'application/x-www-form-urlencoded',
        ),
      },
    );
    const who = fc.constantFrom('self', 'other', 'create');
    await fc.assert(
      fc.asyncProperty(who, body, contentType, async (target, raw, ct) => {
        s.recorder.clear();
        const path =
          target === 'create'
            ? '/v1/users'
            : `/v1/users/${target === 'self' ? viewer.id : other.id}`;
        const method = target === 'create' ? 'POST' : 'PUT';
        const r = await s.call(method, path, {
          token: tok.viewer,
          tenant: tA,
          rawBody: raw,
          headers: { 'content-type': ct },
        });
        const what = `${method} ${target} ${ct} ${JSON.stringify(raw)}`;
        assertNoServerError(r, what);
        const fwd = s.recorder.forwarded();
        if (target !== 'self') {
          // A viewer may neither create users nor change another user: nothing may be forwarded.
          assert.equal(fwd.length, 0, `${what}: forwarded`);
          return;
        }
        if (r.status !== 200) {
          assert.equal(fwd.length, 0, `${what}: refused (${r.status}) but forwarded`);
          return;
        }
        assert.equal(fwd.length, 1, what);
        const decided = validateUserPatch(JSON.parse(raw) as Record<string, unknown>);
        assert.equal(
          fwd[0]!.body,
          JSON.stringify(decided),
          `${what}: the backend received something else than what was decided`,
        );
        assert.equal(
          decided.roles === undefined || decided.roles.join() === 'viewer',
          true,
          `${what}: a role change of one's own was allowed`,
        );
      }),
      params(1500),
    );
    await assertStillServing();
  });
});
