import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  PayloadTooLargeError,
  RequestTimeoutError,
  UnavailableError,
  UnsupportedMediaTypeError,
} from '../../../src/errors.js';
import { createBodyBudget, readBody } from '../../../src/common/body.js';

/** A request stand-in: a stream with headers, written by the test. */
function fakeRequest(headers: Record<string, string>): PassThrough & IncomingMessage {
  const s = new PassThrough() as PassThrough & IncomingMessage;
  (s as { headers: Record<string, string> }).headers = headers;
  return s;
}

describe('readBody: limit, timeout, budget, encoding', () => {
  it('reads a whole body and holds its declared length in the budget until released', async () => {
    const budget = createBodyBudget(1000);
    const req = fakeRequest({ 'content-length': '5' });
    const pending = readBody(req, { limit: 100, timeoutMs: 5000, budget });
    assert.deepEqual(budget.stats(), { bodies: 1, bytes: 5, budget: 1000 });
    req.end('hello');
    const { body, release } = await pending;
    assert.equal(body.toString(), 'hello');
    release();
    release();
    assert.deepEqual(budget.stats(), { bodies: 0, bytes: 0, budget: 1000 });
  });

  it('a chunked body holds the whole limit, so bodies accepted earlier are never cut off', async () => {
    const budget = createBodyBudget(250);
    const a = fakeRequest({ 'transfer-encoding': 'chunked' });
    const b = fakeRequest({ 'transfer-encoding': 'chunked' });
    const pa = readBody(a, { limit: 100, timeoutMs: 5000, budget });
    const pb = readBody(b, { limit: 100, timeoutMs: 5000, budget });
    assert.equal(budget.stats().bytes, 200);
    await assert.rejects(
      readBody(fakeRequest({ 'content-length': '60' }), { limit: 100, timeoutMs: 5000, budget }),
      (e: unknown) => e instanceof UnavailableError && e.retryAfterSeconds === 1,
    );
    a.end('x'.repeat(100));
    b.end('y'.repeat(100));
    assert.equal((await pa).body.length, 100);
    assert.equal((await pb).body.length, 100);
  });

  it('a body that does not arrive within timeoutMs → 408, and its share is given back', async () => {
    const budget = createBodyBudget(1000);
    const req = fakeRequest({ 'content-length': '10' });
    req.write('abc');
    await assert.rejects(
      readBody(req, { limit: 100, timeoutMs: 50, budget }),
      (e: unknown) => e instanceof RequestTimeoutError && e.status === 408,
    );
    assert.equal(budget.stats().bytes, 0);
  });

  it('over the limit → 413, declared or streamed, and its share is given back', async () => {
    const budget = createBodyBudget(1000);
    await assert.rejects(
      readBody(fakeRequest({ 'content-length': '101' }), { limit: 100, timeoutMs: 5000, budget }),
      PayloadTooLargeError,
    );
    const req = fakeRequest({ 'transfer-encoding': 'chunked' });
    const p = readBody(req, { limit: 100, timeoutMs: 5000, budget });
    req.write('z'.repeat(101));
    await assert.rejects(p, PayloadTooLargeError);
    assert.equal(budget.stats().bytes, 0);
  });

  it('a Content-Encoding other than identity → 415 before anything is read or held', async () => {
    const budget = createBodyBudget(1000);
    for (const enc of ['gzip', 'br', 'identity, gzip', 'x-anything']) {
      await assert.rejects(
        readBody(fakeRequest({ 'content-length': '2', 'content-encoding': enc }), {
          limit: 100,
          timeoutMs: 5000,
          budget,
        }),
        UnsupportedMediaTypeError,
        enc,
      );
    }
    assert.equal(budget.stats().bodies, 0);
    const req = fakeRequest({ 'content-length': '2', 'content-encoding': 'identity' });
    const p = readBody(req, { limit: 100, timeoutMs: 5000, budget });
    req.end('{}');
    assert.equal((await p).body.toString(), '{}');
  });
});
