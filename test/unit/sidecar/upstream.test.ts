import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { etagOf } from '../../../src/common/user.js';
import { UpstreamUnavailableError } from '../../../src/errors.js';
import {
  TrustRejectedError,
  createUpstreamClient,
  type UpstreamClient,
} from '../../../src/sidecar/upstream.js';
import { captureLogger, silentLogger } from '../../helpers/tokens.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const OTHER_T = 'CCCCCCCC-0000-4000-8000-000000000000';
const U = 'BBBBBBBB-0000-4000-8000-000000000000';
const AVATAR = `data:image/png;base64,${'QUJD'.repeat(50_000)}`;

const goodUser = {
  id: U,
  tenant_id: T,
  name: 'Uma',
  email: 'uma@x.test',
  roles: ['user'],
  is_owner: false,
  avatar: AVATAR,
  auth_provider: 'local',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};

/** What the fake backend answers to the next user lookup. */
let answer: { status: number; body: string; etag?: string } = {
  status: 200,
  body: JSON.stringify(goodUser),
};

describe('upstream client: the backend user becomes checked facts', () => {
  let server: Server;
  let upstream: UpstreamClient;

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        etag: answer.etag ?? etagOf({ id: U, version: 3 }),
      });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    upstream = createUpstreamClient({
      baseUrl: `http://127.0.0.1:${port}`,
      trustSecret: 's',
      timeoutMs: 2000,
    });
  });

  after(async () => {
    upstream.close();
    await new Promise((r) => server.close(r));
  });

  it('keeps only the facts decisions read: no avatar, no email, a digest of the avatar', async () => {
    answer = { status: 200, body: JSON.stringify(goodUser) };
    const record = await upstream.fetchUser(T, U);
    assert.ok(record !== null);
    assert.deepEqual(Object.keys(record.user).sort(), [
      'avatar_digest',
      'id',
      'is_owner',
      'name',
      'roles',
      'tenant_id',
    ]);
    assert.deepEqual(record.user, {
      id: U,
      tenant_id: T,
      name: 'Uma',
      roles: ['user'],
      is_owner: false,
      avatar_digest: createHash('sha256').update(AVATAR).digest('base64url'),
    });
    assert.equal(record.etag, etagOf({ id: U, version: 3 }));
    assert.ok(JSON.stringify(record).length < 1000, 'the record holds the avatar');
  });

  it('answers null for a 404', async () => {
    answer = { status: 404, body: '{"code":"not_found","message":"no"}' };
    assert.equal(await upstream.fetchUser(T, U), null);
  });

  const otherUser = /answered with another user or tenant$/;
  const wrongShape = /sent a user of the wrong shape$/;
  for (const [what, body, message, cause] of [
    [
      'a user of another tenant',
      JSON.stringify({ ...goodUser, tenant_id: OTHER_T }),
      otherUser,
      /^field tenant_id is /,
    ],
    ['another user', JSON.stringify({ ...goodUser, id: T }), otherUser, /^field id is /],
    [
      'roles that are not strings',
      JSON.stringify({ ...goodUser, roles: ['user', 1] }),
      wrongShape,
      /^field roles is \["user",1\], want an array of strings$/,
    ],
    [
      'is_owner that is not a boolean',
      JSON.stringify({ ...goodUser, is_owner: 'false' }),
      wrongShape,
      /^field is_owner is "false"/,
    ],
    [
      'no name',
      JSON.stringify({ ...goodUser, name: undefined }),
      wrongShape,
      /^field name is missing/,
    ],
    [
      'an avatar that is not a string',
      JSON.stringify({ ...goodUser, avatar: 7 }),
      wrongShape,
      /^field avatar is 7/,
    ],
    ['an array', JSON.stringify([goodUser]), wrongShape, /^not a JSON object$/],
    ['not JSON', '{"id":', /sent a malformed user$/, /JSON/],
  ] as const) {
    it(`refuses ${what} with upstream_unavailable (502), the field in the cause`, async () => {
      answer = { status: 200, body };
      await assert.rejects(upstream.fetchUser(T, U), (err: unknown) => {
        assert.ok(err instanceof UpstreamUnavailableError, String(err));
        assert.equal(err.code, 'upstream_unavailable');
        assert.equal(err.status, 502);
        assert.match(err.message, message);
        assert.match(String((err.cause as Error | undefined)?.message), cause);
        return true;
      });
    });
  }

  it("takes any strong ETag as it is: its inner form is the backend's own", async () => {
    answer = { status: 200, body: JSON.stringify(goodUser), etag: '"k7Qz-9"' };
    assert.equal((await upstream.fetchUser(T, U))?.etag, '"k7Qz-9"');
  });

  // A weak tag never matches If-Match (RFC 9110 §13.1.1): every write would end in 412s and a
  // 503; refusing the look-up says what is wrong at once, and in the log.
  for (const etag of ['W/"k7Qz"', 'k7Qz']) {
    it(`refuses a user whose ETag is not strong (${etag}) with upstream_unavailable`, async () => {
      answer = { status: 200, body: JSON.stringify(goodUser), etag };
      await assert.rejects(upstream.fetchUser(T, U), (err: unknown) => {
        assert.ok(err instanceof UpstreamUnavailableError, String(err));
        assert.match(err.message, /not a strong ETag/);
        return true;
      });
    });
  }
});

describe('upstream client: the readiness ping is a trusted lookup', () => {
  let server: Server;
  const seen: { path: string; trust: string | undefined; tenant: string | undefined }[] = [];
  let status = 404;

  before(async () => {
    server = createServer((req, res) => {
      seen.push({
        path: req.url ?? '',
        trust: req.headers['x-cedargate-trust'] as string | undefined,
        tenant: req.headers['x-tenant-id'] as string | undefined,
      });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{"code":"x","message":"x"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(async () => new Promise((r) => server.close(r)));

  function client(logger = silentLogger, now = () => 0): UpstreamClient {
    const { port } = server.address() as AddressInfo;
    return createUpstreamClient({
      baseUrl: `http://127.0.0.1:${port}`,
      trustSecret: 'the-secret',
      timeoutMs: 2000,
      logger,
      now,
    });
  }

  it('sends the trust header and a tenant, like a request lookup; a 404 is ready', async () => {
    status = 404;
    seen.length = 0;
    const c = client();
    await c.ping();
    c.close();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.trust, 'the-secret');
    assert.match(seen[0]?.path ?? '', /^\/v1\/users\/[0-9A-F-]{36}$/i);
    assert.match(seen[0]?.tenant ?? '', /^[0-9A-F-]{36}$/i);
  });

  it('a 401 is a TrustRejectedError, logged at error level naming TRUST_SECRET, throttled', async () => {
    status = 401;
    const cap = captureLogger();
    let t = 0;
    const c = client(cap.logger, () => t);
    await assert.rejects(c.ping(), (err: unknown) => err instanceof TrustRejectedError);
    await assert.rejects(c.fetchUser(T, U), (err: unknown) => err instanceof TrustRejectedError);
    const errorLines = () =>
      cap
        .lines()
        .split('\n')
        .filter((l) => l.includes('"level":50') && l.includes('TRUST_SECRET'));
    assert.equal(errorLines().length, 1, cap.lines());
    t = 10_000;
    await assert.rejects(c.ping());
    assert.equal(errorLines().length, 2, 'logged again once the throttle has passed');
    c.close();
  });

  it('any other answer is unavailable, not a trust problem', async () => {
    status = 503;
    const c = client();
    await assert.rejects(
      c.ping(),
      (err: unknown) =>
        err instanceof UpstreamUnavailableError && !(err instanceof TrustRejectedError),
    );
    c.close();
  });
});
