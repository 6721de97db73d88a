/**
 * The forwarder against a tiny backend in the test: exactly what was authorized goes out — the
 * planned path and body (re-framed: the client's framing and bytes never pass), the verified
 * identity and trust header, an allowlist of client headers — and the backend's answer comes
 * back without its hop-by-hop headers; a 412 becomes `retry`, a dead or silent backend `failed`.
 */
import assert from 'node:assert/strict';
import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { TRUST_HEADER } from '../../../src/common/trust.js';
import {
  createForwarder,
  type ForwardOutcome,
  type ForwardPlan,
} from '../../../src/sidecar/proxy.js';
import { freePort } from '../../helpers/net.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const SUBJECT = 'BBBBBBBB-0000-4000-8000-000000000000';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the backend does with the next request. */
type Reply = (req: IncomingMessage, res: ServerResponse) => void;

const listen = (server: Server) =>
  new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)),
  );

function planOf(overrides: Partial<ForwardPlan> = {}): ForwardPlan {
  return {
    method: 'PUT',
    path: `/v1/users/${SUBJECT}`,
    tenantId: T,
    subject: SUBJECT,
    requestId: 'rid-1',
    body: Buffer.from('{"name":"decided"}'),
    ifMatch: '"v1"',
    retryOn412: false,
    responseHeaders: {},
    ...overrides,
  };
}

/** A raw client request to the front server, headers exactly as given. */
function send(
  port: number,
  options: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, ...options, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('proxy: what is forwarded', () => {
  const agent = new Agent({ keepAlive: true });
  let backend: Server;
  let front: Server;
  let frontPort = 0;
  let seen: Seen[] = [];
  let reply: Reply;
  let plan: ForwardPlan;
  let outcomes: ForwardOutcome[] = [];
  let headersAfter: IncomingHttpHeaders[] = [];

  before(async () => {
    backend = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        reply(req, res);
      });
    });
    const backendPort = await listen(backend);
    const forwarder = createForwarder({
      target: `http://127.0.0.1:${backendPort}`,
      agent,
      trustSecret: 'trust-secret',
      timeoutMs: 2000,
    });
    // The front reads the client's body to the end first, as the pipeline does.
    front = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        void forwarder.forward(req, res, plan).then((o) => {
          outcomes.push(o);
          headersAfter.push(req.headers);
          if (o.kind !== 'answered') res.writeHead(599).end(o.kind);
        });
      });
    });
    frontPort = await listen(front);
  });
  beforeEach(() => {
    seen = [];
    outcomes = [];
    headersAfter = [];
    plan = planOf();
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"v2"' }).end('{}');
    };
  });
  after(async () => {
    agent.destroy();
    await Promise.all([backend, front].map((s) => new Promise((r) => s.close(r))));
  });

  it('sends the planned path and body, re-framed; the client path, framing and bytes never pass', async () => {
    const r = await send(frontPort, {
      method: 'PUT',
      path: `/v1/users/${SUBJECT.toLowerCase()}/../x?tenant=other`,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: '{"name":"decided","roles":["admin"]}',
    });
    assert.equal(r.status, 200);
    const got = seen[0];
    assert.ok(got);
    assert.equal(got.method, 'PUT');
    assert.equal(got.url, `/v1/users/${SUBJECT}`);
    assert.equal(got.body, '{"name":"decided"}');
    assert.equal(got.headers['content-length'], String('{"name":"decided"}'.length));
    assert.equal(got.headers['transfer-encoding'], undefined);
    assert.equal(got.headers['content-type'], 'application/json');
  });

  it('sets the verified identity, the request id, the trust header and the decided If-Match', async () => {
    await send(frontPort, {
      method: 'PUT',
      path: '/anything',
      headers: {
        'x-tenant-id': 'CCCCCCCC-0000-4000-8000-000000000000',
        'x-cedargate-subject': 'someone-else',
        'x-request-id': 'client-chosen',
        [TRUST_HEADER]: 'forged',
        'if-match': '"client"',
      },
      body: '{}',
    });
    const h = seen[0]?.headers;
    assert.ok(h);
    assert.equal(h['x-tenant-id'], T);
    assert.equal(h['x-cedargate-subject'], SUBJECT);
    assert.equal(h['x-request-id'], 'rid-1');
    assert.equal(h[TRUST_HEADER], 'trust-secret');
    assert.equal(h['if-match'], '"v1"');
  });

  it('passes only the allowlisted client headers (security.md 12, 13)', async () => {
    plan = planOf({ method: 'GET', body: undefined, ifMatch: undefined });
    await send(frontPort, {
      method: 'GET',
      path: '/v1/users',
      headers: {
        accept: 'application/json',
        'accept-language': 'fr',
        'user-agent': 'test-agent',
        'content-type': 'text/plain',
        cookie: 'session=1',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-host': 'evil',
        forwarded: 'for=10.0.0.1',
        'x-http-method-override': 'DELETE',
        'x-custom': '1',
        connection: 'keep-alive, x-tenant-id',
      },
    });
    const h = seen[0]?.headers;
    assert.ok(h);
    assert.equal(h['accept'], 'application/json');
    assert.equal(h['accept-language'], 'fr');
    assert.equal(h['user-agent'], 'test-agent');
    assert.equal(h['x-tenant-id'], T);
    for (const name of [
      'cookie',
      'x-forwarded-for',
      'x-forwarded-host',
      'forwarded',
      'x-http-method-override',
      'x-custom',
      // Without a body, no content type either: the backend reads none.
      'content-type',
    ]) {
      assert.equal(h[name], undefined, name);
    }
    assert.equal(h['content-length'], '0');
    assert.equal(seen[0]?.body, '');
  });

  it("the pipeline has the client's own headers again once the forward settles (a 412 authenticates again from them)", async () => {
    plan = planOf({ retryOn412: true });
    reply = (_req, res) => res.writeHead(412).end();
    const headers = {
      authorization: 'Bearer abc.def.ghi',
      'x-tenant-id': T,
      expect: '100-continue',
    };
    const r = await send(frontPort, { method: 'PUT', path: '/x', headers, body: '{}' });
    assert.equal(r.status, 599);
    assert.deepEqual(outcomes, [{ kind: 'retry' }]);
    assert.equal(seen[0]?.headers.authorization, undefined);
    assert.equal(seen[0]?.headers.expect, undefined);
    assert.equal(headersAfter[0]?.authorization, headers.authorization);
    assert.equal(headersAfter[0]?.['x-tenant-id'], T);
  });

  it('answers with the backend response minus hop-by-hop headers, plus the request id and plan headers', async () => {
    plan = planOf({ responseHeaders: { 'x-cedargate-decision': 'deny' } });
    reply = (_req, res) => {
      res.setHeader('keep-alive', 'timeout=5');
      res.setHeader('x-request-id', 'backend-chosen');
      res.writeHead(201, { 'content-type': 'application/json', etag: '"v2"' }).end('{"ok":1}');
    };
    const r = await send(frontPort, { method: 'PUT', path: '/x', headers: {}, body: '{}' });
    assert.equal(r.status, 201);
    assert.equal(r.body, '{"ok":1}');
    assert.equal(r.headers['etag'], '"v2"');
    assert.equal(r.headers['x-request-id'], 'rid-1');
    assert.equal(r.headers['x-cedargate-decision'], 'deny');
    assert.equal(r.headers['keep-alive'], undefined);
    assert.deepEqual(outcomes, [{ kind: 'answered', status: 201 }]);
  });

  it('runs beforeRespond with the buffered answer before the client sees it', async () => {
    const order: string[] = [];
    plan = planOf({
      bufferResponse: true,
      beforeRespond: async (status, response) => {
        order.push(`before ${status} ${response.etag} ${response.body?.toString()}`);
        await new Promise((r) => setImmediate(r));
        order.push('done');
      },
    });
    const r = await send(frontPort, { method: 'PUT', path: '/x', headers: {}, body: '{}' });
    order.push('client');
    assert.equal(r.body, '{}');
    assert.deepEqual(order, ['before 200 "v2" {}', 'done', 'client']);
  });

  it('a backend 412 on a write the pipeline can decide again → retry, nothing answered', async () => {
    plan = planOf({ retryOn412: true });
    reply = (_req, res) => res.writeHead(412, { 'content-type': 'application/json' }).end('{}');
    const r = await send(frontPort, { method: 'PUT', path: '/x', headers: {}, body: '{}' });
    assert.equal(r.status, 599);
    assert.deepEqual(outcomes, [{ kind: 'retry' }]);
  });

  it('a backend that dies halfway through a buffered answer → failed, upstream_unavailable; the client gets the error, not half a body', async () => {
    const told: number[] = [];
    plan = planOf({ bufferResponse: true, beforeRespond: (status) => void told.push(status) });
    reply = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => req.socket.destroy(), 20);
    };
    const r = await Promise.race([
      send(frontPort, { method: 'PUT', path: '/x', headers: {}, body: '{}' }),
      new Promise<'stuck'>((res) => setTimeout(() => res('stuck'), 5000).unref()),
    ]);
    assert.ok(r !== 'stuck', 'the forward never settled after the backend died mid-answer');
    assert.equal(r.status, 599);
    const o = outcomes[0];
    assert.equal(o?.kind, 'failed');
    assert.equal(o.kind === 'failed' && o.error.code, 'upstream_unavailable');
    assert.deepEqual(told, [], 'an answer never read whole is not told as acknowledged');
  });

  it('a small answer (a user) the backend cuts halfway → failed, upstream_unavailable; the client gets the error, not half a body', async () => {
    plan = planOf({ method: 'GET', body: undefined, ifMatch: undefined });
    reply = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => req.socket.destroy(), 20);
    };
    const r = await send(frontPort, { method: 'GET', path: '/x', headers: {} });
    assert.equal(r.status, 599);
    const o = outcomes[0];
    assert.equal(o?.kind, 'failed');
    assert.equal(o.kind === 'failed' && o.error.code, 'upstream_unavailable');
  });

  for (const framing of ['chunked', 'over 64 KiB declared'] as const) {
    it(`a page (${framing}) is piped: the client has its first bytes before the backend sends the rest`, async () => {
      plan = planOf({ method: 'GET', body: undefined, ifMatch: undefined });
      let clientHasFirst!: () => void;
      const firstArrived = new Promise<void>((r) => (clientHasFirst = r));
      const rest = 'x'.repeat(70 * 1024);
      reply = (_req, res) => {
        const head: Record<string, string> = { 'content-type': 'application/json' };
        if (framing !== 'chunked') head['content-length'] = String(1 + rest.length);
        res.writeHead(200, head);
        res.write('[');
        void firstArrived.then(() => res.end(rest));
      };
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: frontPort, path: '/x', agent: false },
          (res) => {
            let got = '';
            res.on('data', (c: Buffer) => {
              if (got === '') clientHasFirst();
              got += c.toString();
            });
            res.on('end', () => resolve(got));
          },
        );
        req.on('error', reject);
        setTimeout(
          () => reject(new Error('the first bytes were held until the end')),
          5000,
        ).unref();
        req.end();
      });
      assert.equal(body, `[${rest}`);
      assert.deepEqual(outcomes, [{ kind: 'answered', status: 200 }]);
    });
  }

  it('a backend that dies while beforeRespond still runs → failed once; nothing is written after the error answer', async () => {
    plan = planOf({
      beforeRespond: () => new Promise<void>((r) => setTimeout(r, 150)),
    });
    reply = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => req.socket.destroy(), 20);
    };
    // A keep-alive client: its connection (and so the response object) outlives the answer.
    const keepAlive = new Agent({ keepAlive: true });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: frontPort, method: 'PUT', path: '/x', agent: keepAlive },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end('{}');
      });
      assert.equal(status, 599);
      // Past beforeRespond: the late respond must find the forward settled and write nothing.
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      keepAlive.destroy();
    }
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]?.kind, 'failed');
  });

  it('a backend that resets the connection → failed, upstream_unavailable', async () => {
    reply = (req) => req.socket.destroy();
    const r = await send(frontPort, { method: 'PUT', path: '/x', headers: {}, body: '{}' });
    assert.equal(r.status, 599);
    const o = outcomes[0];
    assert.equal(o?.kind, 'failed');
    assert.equal(o.kind === 'failed' && o.error.code, 'upstream_unavailable');
  });
});

describe('proxy: an unreachable or silent backend', () => {
  async function forwardTo(target: string, timeoutMs: number): Promise<ForwardOutcome> {
    const agent = new Agent({ keepAlive: false });
    const forwarder = createForwarder({ target, agent, trustSecret: 's', timeoutMs });
    let outcome: ForwardOutcome | undefined;
    const front = createServer((req, res) => {
      void forwarder.forward(req, res, planOf()).then((o) => {
        outcome = o;
        if (!res.headersSent) res.writeHead(599);
        res.end();
      });
    });
    const port = await listen(front);
    await send(port, { method: 'PUT', path: '/x', headers: {}, body: '{}' });
    await new Promise((r) => front.close(r));
    agent.destroy();
    assert.ok(outcome);
    return outcome;
  }

  it('nothing listening → failed, upstream_unavailable', async () => {
    const o = await forwardTo(`http://127.0.0.1:${await freePort()}`, 2000);
    assert.equal(o.kind === 'failed' && o.error.code, 'upstream_unavailable');
  });
});

/**
 * More forwards at once than the agent has sockets (the sidecar's has 256): the ones past that
 * wait in the agent for a socket, and get it only after their request has been set up. Each must
 * still go out as planned — identity, trust header, decided body — once its socket comes.
 */
describe('proxy: more forwards at once than the agent has sockets', () => {
  it(
    'a forward that waits for a socket goes out as planned once it has one',
    {
      timeout: 10_000,
    },
    async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const seenHere: Seen[] = [];
      const backend = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seenHere.push({
            method: req.method ?? '',
            url: req.url ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
          });
          // Holds the one socket a while, so that the other forward has to wait for it.
          setTimeout(
            () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
            50,
          );
        });
      });
      const forwarder = createForwarder({
        target: `http://127.0.0.1:${await listen(backend)}`,
        agent,
        trustSecret: 'trust-secret',
        timeoutMs: 5000,
      });
      const plans: Record<string, ForwardPlan> = {
        '/get': planOf({
          method: 'GET',
          body: undefined,
          ifMatch: undefined,
          requestId: 'rid-get',
        }),
        '/put': planOf({ requestId: 'rid-put' }),
      };
      const outcomes: ForwardOutcome[] = [];
      const front = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          void forwarder.forward(req, res, plans[req.url ?? ''] ?? planOf()).then((o) => {
            outcomes.push(o);
            if (o.kind !== 'answered') res.writeHead(599).end(o.kind);
          });
        });
      });
      const port = await listen(front);
      try {
        const answers = await Promise.all([
          send(port, { method: 'GET', path: '/get', headers: {} }),
          send(port, { method: 'PUT', path: '/put', headers: {}, body: '{"name":"sent"}' }),
        ]);
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        assert.deepEqual(outcomes, [
          { kind: 'answered', status: 200 },
          { kind: 'answered', status: 200 },
        ]);
        const byId = new Map(seenHere.map((s) => [s.headers['x-request-id'], s]));
        for (const id of ['rid-get', 'rid-put']) {
          const s = byId.get(id);
          assert.ok(s, `the backend got ${id}`);
          assert.equal(s.headers['x-cedargate-subject'], SUBJECT);
          assert.equal(s.headers['x-tenant-id'], T);
          assert.equal(s.headers[TRUST_HEADER], 'trust-secret');
        }
        assert.equal(byId.get('rid-put')?.body, '{"name":"decided"}');
        assert.equal(byId.get('rid-get')?.body, '');
      } finally {
        agent.destroy();
        await Promise.all([backend, front].map((s) => new Promise((r) => s.close(r))));
      }
    },
  );
});

/**
 * A client that goes away while its write is at the backend (a load generator's deadline, a
 * phone losing signal). The write queue runs the next write to that user only once this forward
 * settles, so a forward that never settles stalls that user's writes for good. It must settle
 * once the backend's answer is in, and the answer must still reach `beforeRespond`: the write
 * was applied, and the directory must learn it even though no one is listening.
 */
describe('proxy: a client that leaves before the backend answers', () => {
  const ok: Reply = (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json', etag: '"v2"' }).end('{}');

  for (const buffered of [false, true]) {
    it(`settles once the answer is in, and still runs beforeRespond (${buffered ? 'buffered' : 'streamed'})`, async () => {
      const { outcome, told } = await leaveEarly(ok, buffered);
      assert.deepEqual(outcome, { kind: 'answered', status: 200 });
      assert.deepEqual(told, [200]);
    });
  }

  it('settles as failed, upstream_unavailable, when the backend then resets', async () => {
    // http-proxy reports this reset as 'econnreset', not 'error', since the client is gone.
    const { outcome, told } = await leaveEarly((req) => req.socket.destroy(), true);
    assert.equal(outcome.kind, 'failed');
    assert.equal(outcome.kind === 'failed' && outcome.error.code, 'upstream_unavailable');
    assert.deepEqual(told, []);
  });
});

/**
 * Forwards a PUT whose client disconnects once the forward has begun; the backend runs `answer`
 * only after the client is gone. Resolves to the forward's outcome, failing if it never settles.
 */
async function leaveEarly(
  answer: Reply,
  buffered: boolean,
): Promise<{ outcome: ForwardOutcome; told: number[] }> {
  const agent = new Agent({ keepAlive: true });
  let clientGone!: () => void;
  const gone = new Promise<void>((r) => (clientGone = r));
  const backend = createServer((req, res) => {
    req.resume();
    void gone.then(() => answer(req, res));
  });
  const backendPort = await listen(backend);
  const forwarder = createForwarder({
    target: `http://127.0.0.1:${backendPort}`,
    agent,
    trustSecret: 's',
    timeoutMs: 10_000,
  });
  const told: number[] = [];
  let settled: Promise<ForwardOutcome> | undefined;
  const front = createServer((req, res) => {
    res.on('close', () => setImmediate(clientGone));
    req.resume();
    req.on('end', () => {
      settled = forwarder.forward(
        req,
        res,
        planOf({ bufferResponse: buffered, beforeRespond: (status) => void told.push(status) }),
      );
    });
  });
  const frontPort = await listen(front);
  try {
    const client = request({
      host: '127.0.0.1',
      port: frontPort,
      method: 'PUT',
      path: '/x',
      agent: false,
    });
    client.on('error', () => undefined);
    client.end('{}');
    for (let i = 0; i < 500 && settled === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.ok(settled, 'the front never forwarded');
    client.destroy();
    const outcome = await Promise.race([
      settled,
      new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 5000).unref()),
    ]);
    assert.ok(outcome !== 'stuck', 'the forward never settled after its client left');
    return { outcome, told };
  } finally {
    agent.destroy();
    await Promise.all([backend, front].map((s) => new Promise((r) => s.close(r))));
  }
}
