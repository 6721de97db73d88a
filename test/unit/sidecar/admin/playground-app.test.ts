/**
 * The playground's HTTP edge over a fake playground: the page and its assets, bounded bodies,
 * the contract's errors (415 for a form post from another site, 400, 413, 404), and what each
 * question passes on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { DEFAULT_MAX_REQUESTS } from '../../../../src/policy/authoring/enumeration-plan.js';
import {
  DIFF_DEFAULT_REQUESTS,
  PLAYGROUND_BODY_LIMIT,
  createPlaygroundRouter,
  listeningOf,
} from '../../../../src/sidecar/admin/playground-app.js';
import type { Playground } from '../../../../src/sidecar/admin/playground.js';

function appWith(): { app: express.Express; calls: unknown[] } {
  const calls: unknown[] = [];
  const fake: Playground = {
    live: async () => ({ schema: 's', files: [], version: 'v', in_force: true, invariants: null }),
    decide: async (edited, req) => {
      calls.push(['decide', edited, req]);
      return { live: { ok: false, problems: [] }, edited: { ok: false, problems: [] } };
    },
    validate: async (edited) => {
      calls.push(['validate', edited]);
      return { ok: true, problems: [] };
    },
    diff: async (edited, max) => {
      calls.push(['diff', edited, max]);
      return { ok: false, problems: [] };
    },
    check: async (edited, question) => {
      calls.push(['check', edited, question]);
      return { ok: false, problems: [] };
    },
    close: async () => undefined,
  };
  const app = express();
  app.use('/playground', createPlaygroundRouter(fake));
  return { app, calls };
}

interface Body {
  code: string;
  details?: { field?: string };
}

const POLICIES = { schema: 's', files: [{ file: 'a.cedar', text: 't' }] };

describe('playground app', () => {
  it('serves the page, its script and its style with a strict CSP', async () => {
    const { app } = appWith();
    for (const [path, type] of [
      ['/playground/', /text\/html/],
      ['/playground/playground.js', /text\/javascript/],
      ['/playground/playground.css', /text\/css/],
    ] as const) {
      const r = await request(app).get(path);
      assert.equal(r.status, 200, path);
      assert.match(r.headers['content-type'] ?? '', type);
      assert.match(r.headers['content-security-policy'] ?? '', /default-src 'self'/);
    }
  });

  it('passes checked questions on', async () => {
    const { app, calls } = appWith();
    const v = await request(app).post('/playground/api/validate').send({ policies: POLICIES });
    assert.equal(v.status, 200);
    const d = await request(app)
      .post('/playground/api/diff')
      .send({ policies: POLICIES, max_requests: 5 });
    assert.equal(d.status, 200);
    // Without max_requests, policy diff's own bound: the page counts what the CLI counts.
    await request(app).post('/playground/api/diff').send({ policies: POLICIES });
    const c = await request(app)
      .post('/playground/api/check')
      .send({ policies: POLICIES, invariants: 'invariants: []', users: 3 });
    assert.equal(c.status, 200);
    await request(app).post('/playground/api/check').send({ policies: POLICIES });
    assert.equal(DIFF_DEFAULT_REQUESTS, DEFAULT_MAX_REQUESTS);
    assert.deepEqual(calls, [
      ['validate', POLICIES],
      ['diff', POLICIES, 5],
      ['diff', POLICIES, DEFAULT_MAX_REQUESTS],
      ['check', POLICIES, { invariants: 'invariants: []', users: 3 }],
      ['check', POLICIES, {}],
    ]);
    const live = await request(app).get('/playground/api/live');
    assert.equal((live.body as { version: string }).version, 'v');
  });

  it('answers bad bodies with the contract errors', async () => {
    const { app, calls } = appWith();
    const form = await request(app).post('/playground/api/decide').type('form').send('a=1');
    assert.equal(form.status, 415);
    assert.equal((form.body as Body).code, 'unsupported_media_type');
    const bad = await request(app).post('/playground/api/decide').send({ policies: POLICIES });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as Body).details?.field, 'request');
    const big = await request(app)
      .post('/playground/api/validate')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ policies: { schema: 'x'.repeat(PLAYGROUND_BODY_LIMIT), files: [] } }));
    assert.equal(big.status, 413);
    assert.equal((big.body as Body).code, 'payload_too_large');
    const max = await request(app)
      .post('/playground/api/diff')
      .send({ policies: POLICIES, max_requests: 1e9 });
    assert.equal((max.body as Body).code, 'invalid_input');
    for (const [body, field] of [
      [{ policies: POLICIES, users: 0 }, 'users'],
      [{ policies: POLICIES, invariants: 1 }, 'invariants'],
      [{ policies: { schema: 1, files: [] } }, 'policies.schema'],
    ] as const) {
      const c = await request(app).post('/playground/api/check').send(body);
      assert.equal(c.status, 400, field);
      assert.equal((c.body as Body).code, 'invalid_input');
      assert.equal((c.body as Body).details?.field, field);
    }
    const none = await request(app).get('/playground/api/nothing');
    assert.equal(none.status, 404);
    assert.equal((none.body as Body).code, 'not_found');
    assert.deepEqual(calls, []);
  });

  it('answers only a Host that names this machine directly: 403 to any other name (DNS rebinding)', async () => {
    const { app, calls } = appWith();
    for (const host of ['evil.example', 'attacker.test:9901', 'localhost.evil.example']) {
      const page = await request(app).get('/playground/').set('host', host);
      assert.equal(page.status, 403, host);
      const live = await request(app).get('/playground/api/live').set('host', host);
      assert.equal(live.status, 403, host);
      assert.equal((live.body as Body).code, 'forbidden');
      const d = await request(app)
        .post('/playground/api/decide')
        .set('host', host)
        .send({ policies: POLICIES });
      assert.equal(d.status, 403, host);
    }
    assert.deepEqual(calls, [], 'nothing was asked of the playground');
    for (const host of [
      'localhost:9901',
      'LOCALHOST',
      'app.localhost',
      '127.0.0.1:9901',
      '[::1]:9901',
      '10.1.2.3',
    ]) {
      const r = await request(app).get('/playground/api/live').set('host', host);
      assert.equal(r.status, 200, host);
    }
  });
});

describe('where the playground says it is served', () => {
  it('names loopback addresses as loopback, IPv4-mapped ones unwrapped', () => {
    assert.deepEqual(listeningOf('127.0.0.1', 9901), {
      address: '127.0.0.1',
      port: 9901,
      loopback: true,
    });
    assert.deepEqual(listeningOf('::ffff:127.0.0.1', 9901), {
      address: '127.0.0.1',
      port: 9901,
      loopback: true,
    });
    assert.equal(listeningOf('::1', 1).loopback, true);
  });

  it('says when the address is not loopback, so the page can warn', () => {
    assert.deepEqual(listeningOf('10.1.2.3', 9901), {
      address: '10.1.2.3',
      port: 9901,
      loopback: false,
    });
    assert.equal(listeningOf('::ffff:192.168.1.4', 9901).loopback, false);
    assert.equal(listeningOf(undefined, undefined).loopback, false);
  });
});
