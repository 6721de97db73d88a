import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConflictError,
  ForbiddenError,
  HeaderTooLargeError,
  InternalError,
  InvalidInputError,
  InvalidRolesError,
  NotFoundError,
  RequestTimeoutError,
  PayloadTooLargeError,
  PreconditionFailedError,
  TenantMismatchError,
  UnauthenticatedError,
  UnavailableError,
  UnsupportedMediaTypeError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  errorResponse,
} from '../../src/errors.js';

describe('errorResponse: one place maps every contract error to HTTP', () => {
  const table: Array<[unknown, number, string]> = [
    [new InvalidInputError('bad'), 400, 'invalid_input'],
    [new UnauthenticatedError('expired'), 401, 'unauthenticated'],
    [new TenantMismatchError(), 403, 'tenant_mismatch'],
    [
      new ForbiddenError('no', {
        notices: ['n'],
        details: { policies: ['p'], action: 'users:update' },
      }),
      403,
      'forbidden',
    ],
    [new NotFoundError('none'), 404, 'not_found'],
    [new RequestTimeoutError('slow'), 408, 'request_timeout'],
    [new ConflictError('taken'), 409, 'conflict'],
    [new PreconditionFailedError(), 412, 'precondition_failed'],
    [new PayloadTooLargeError('big'), 413, 'payload_too_large'],
    [new UnsupportedMediaTypeError(), 415, 'unsupported_media_type'],
    [new InvalidRolesError(['x'], ['admin']), 422, 'invalid_roles'],
    [new HeaderTooLargeError('big'), 431, 'header_too_large'],
    [new InternalError(), 500, 'internal'],
    [new UpstreamUnavailableError(), 502, 'upstream_unavailable'],
    [new UnavailableError('redis down'), 503, 'unavailable'],
    [new UpstreamTimeoutError(), 504, 'upstream_timeout'],
    [new Error('a bug'), 500, 'internal'],
    ['a thrown string', 500, 'internal'],
  ];
  for (const [err, status, code] of table) {
    it(`${code} → ${status}`, () => {
      const r = errorResponse(err);
      assert.equal(r.status, status);
      assert.equal(r.body.code, code);
      assert.equal(typeof r.body.message, 'string');
      assert.ok(r.body.message.length > 0);
    });
  }

  it('401 carries WWW-Authenticate and hides the real reason', () => {
    const r = errorResponse(new UnauthenticatedError('signature verification failed for kid abc'));
    assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.doesNotMatch(r.body.message, /signature|kid/);
  });

  it('a bug never leaks its message', () => {
    const r = errorResponse(new Error('secret connection string'));
    assert.doesNotMatch(JSON.stringify(r.body), /secret/);
  });

  it('forbidden carries notices and details; invalid_roles lists invalid and allowed', () => {
    const f = errorResponse(
      new ForbiddenError('no', {
        notices: ['Only the owner'],
        details: { policies: ['p1'], action: 'users:update' },
      }),
    );
    assert.deepEqual(f.body.notices, ['Only the owner']);
    assert.deepEqual(f.body.details, { policies: ['p1'], action: 'users:update' });
    const r = errorResponse(new InvalidRolesError(['root'], ['admin', 'user']));
    assert.deepEqual(r.body.details, { invalid: ['root'], allowed: ['admin', 'user'] });
  });
});
