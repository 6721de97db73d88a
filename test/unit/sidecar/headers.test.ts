/**
 * The sidecar's header framing checks on their own: a header the decision depends on, sent
 * twice, is 400 naming it (node would keep one or join them silently); two credentials are
 * refused before the credential is read; an HTTP/1.1 request without Host is 400.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { CedargateError } from '../../../src/errors.js';
import {
  assertHostHeader,
  assertSingleCredential,
  assertSingleHeaders,
} from '../../../src/sidecar/headers.js';

/** A request head as node parses it: raw pairs as sent, `headers` as node folds them. */
function head(rawHeaders: string[], httpVersion = '1.1'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    headers[(rawHeaders[i] as string).toLowerCase()] ??= rawHeaders[i + 1] as string;
  }
  return { rawHeaders, headers, httpVersion } as unknown as IncomingMessage;
}

const invalidHeader = (header: string) => (e: unknown) =>
  e instanceof CedargateError &&
  e.status === 400 &&
  e.code === 'invalid_input' &&
  e.details?.['header'] === header;

describe('headers: each at most once', () => {
  it('two Authorization headers, in any spelling → 400 naming authorization', () => {
    const req = head(['Authorization', 'Bearer a', 'host', 'x', 'AUTHORIZATION', 'Bearer b']);
    assert.throws(() => assertSingleCredential(req), invalidHeader('authorization'));
  });

  it('the credential check looks at Authorization only: other repeats wait for the head check', () => {
    const req = head(['x-tenant-id', 'a', 'X-Tenant-ID', 'b', 'authorization', 'Bearer a']);
    assert.doesNotThrow(() => assertSingleCredential(req));
    assert.throws(() => assertSingleHeaders(req), invalidHeader('x-tenant-id'));
  });

  it('every header the decision or the framing depends on is refused twice', () => {
    for (const name of [
      'authorization',
      'x-tenant-id',
      'content-length',
      'content-type',
      'transfer-encoding',
      'if-match',
      'host',
      'x-request-id',
    ]) {
      assert.throws(
        () => assertSingleHeaders(head([name, '1', name.toUpperCase(), '2'])),
        invalidHeader(name),
        name,
      );
    }
  });

  it('headers that may repeat, and single ones, pass', () => {
    const req = head([
      'host',
      'x',
      'authorization',
      'Bearer a',
      'accept',
      'a',
      'Accept',
      'b',
      'x-tenant-id',
      'T',
    ]);
    assert.doesNotThrow(() => assertSingleCredential(req));
    assert.doesNotThrow(() => assertSingleHeaders(req));
  });
});

describe('headers: one check after another', () => {
  it('a refused request leaves nothing behind for the next one (the names met are per call)', () => {
    const twice = head(['x-tenant-id', 'a', 'authorization', 'Bearer a', 'X-Tenant-ID', 'b']);
    assert.throws(() => assertSingleHeaders(twice), invalidHeader('x-tenant-id'));
    // Had the first call's names stayed, this one's single x-tenant-id would look repeated.
    const once = head(['x-tenant-id', 'a', 'authorization', 'Bearer a']);
    assert.doesNotThrow(() => assertSingleHeaders(once));
    assert.doesNotThrow(() => assertSingleCredential(once));
    assert.doesNotThrow(() => assertSingleHeaders(once));
  });
});

describe('headers: Host', () => {
  it('HTTP/1.1 without Host → 400 naming host; with it, or over HTTP/1.0, passes', () => {
    assert.throws(() => assertHostHeader(head([])), invalidHeader('host'));
    assert.doesNotThrow(() => assertHostHeader(head(['Host', 'sidecar'])));
    assert.doesNotThrow(() => assertHostHeader(head([], '1.0')));
  });
});
