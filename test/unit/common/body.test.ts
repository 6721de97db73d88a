import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  InvalidInputError,
  PayloadTooLargeError,
  RequestTimeoutError,
  UnavailableError,
  UnsupportedMediaTypeError,
} from '../../../src/errors.js';
import { createBodyBudget, readBody, readJsonBody } from '../../../src/common/body.js';

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

describe('readJsonBody: the backend reads bodies by the same rules', () => {
  const json = { 'content-type': 'application/json', 'content-length': '2' };

  it('reads a JSON object, with or without a UTF-8 charset', async () => {
    for (const type of ['application/json', 'application/json; charset=UTF-8']) {
      const req = fakeRequest({ ...json, 'content-type': type });
      const p = readJsonBody(req, { limit: 100 });
      req.end('{}');
      assert.deepEqual(await p, {}, type);
    }
  });

  it('a non-JSON media type or another charset → 415 before a byte is read', async () => {
    for (const type of ['text/plain', 'application/json; charset=utf-16']) {
      const req = fakeRequest({ ...json, 'content-type': type });
      await assert.rejects(readJsonBody(req, { limit: 100 }), UnsupportedMediaTypeError, type);
      assert.equal(req.readableFlowing, null, `${type}: the body was read`);
    }
  });

  it("a Content-Encoding other than identity → 415, by the sidecar's rule", async () => {
    for (const enc of ['gzip', 'identity, gzip']) {
      const req = fakeRequest({ ...json, 'content-encoding': enc });
      await assert.rejects(readJsonBody(req, { limit: 100 }), UnsupportedMediaTypeError, enc);
    }
    const req = fakeRequest({ ...json, 'content-encoding': 'identity' });
    const p = readJsonBody(req, { limit: 100 });
    req.end('{}');
    assert.deepEqual(await p, {});
  });

  it('over the limit → 413, declared or streamed', async () => {
    await assert.rejects(
      readJsonBody(fakeRequest({ ...json, 'content-length': '101' }), { limit: 100 }),
      PayloadTooLargeError,
    );
    const req = fakeRequest({ 'content-type': 'application/json' });
    const p = readJsonBody(req, { limit: 100 });
    req.write('z'.repeat(101));
    await assert.rejects(p, PayloadTooLargeError);
  });

  it('a request that ends before its body → 400', async () => {
    const req = fakeRequest(json);
    const p = readJsonBody(req, { limit: 100 });
    req.write('{');
    req.destroy();
    await assert.rejects(p, InvalidInputError);
  });
});
