import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConflictError,
  ForbiddenError,
  HeaderTooLargeError,
  InternalError,
  InvalidInputError,
  InvalidRolesError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  RequestTimeoutError,
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
    [new TenantMismatchError({ headerTenant: 'B', credentialTenant: 'A' }), 403, 'tenant_mismatch'],
    [
      new ForbiddenError('no', {
        notices: ['n'],
        details: { policies: ['p'], action: 'users:update' },
      }),
      403,
      'forbidden',
    ],
    [new NotFoundError('none'), 404, 'not_found'],
    [new MethodNotAllowedError(['GET', 'POST']), 405, 'method_not_allowed'],
    [new RequestTimeoutError('slow body'), 408, 'request_timeout'],
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
    assert.equal(
      r.headers['www-authenticate'],
      'Bearer realm="cedargate", error="invalid_token", error_description="malformed token"',
    );
    assert.doesNotMatch(r.body.message, /signature|kid/);
    assert.doesNotMatch(JSON.stringify(r.body), /signature|kid/);
  });

  it('401 challenges per RFC 6750 §3.1: no error code without a credential, invalid_request', () => {
    const none = errorResponse(new UnauthenticatedError('no header', { challenge: 'none' }));
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="cedargate"');
    const bad = errorResponse(new UnauthenticatedError('x', { challenge: 'invalid_request' }));
    assert.equal(
      bad.headers['www-authenticate'],
      'Bearer realm="cedargate", error="invalid_request", error_description="malformed request"',
    );
    assert.deepEqual(none.body.details, { reason: 'no credential' });
  });

  it('401 carries its fixed category: error_description, details.reason, never the reason', () => {
    const r = errorResponse(
      new UnauthenticatedError('"exp" claim timestamp check failed for eyJhbGciOi', {
        category: 'expired',
      }),
    );
    assert.equal(
      r.headers['www-authenticate'],
      'Bearer realm="cedargate", error="invalid_token", error_description="expired"',
    );
    assert.deepEqual(r.body.details, { reason: 'expired' });
    assert.doesNotMatch(JSON.stringify(r), /eyJ|timestamp/);
  });

  it('403 tenant_mismatch without a credential tenant (an unmapped tenant_map value)', () => {
    const r = errorResponse(
      new TenantMismatchError(
        { headerTenant: 'B', credentialTenant: null },
        { details: { issuer: 'https://a.test/', reason: 'not in tenant_map' } },
      ),
    );
    assert.equal(r.body.code, 'tenant_mismatch');
    assert.deepEqual(r.body.details, {
      header_tenant: 'B',
      credential_tenant: null,
      issuer: 'https://a.test/',
      reason: 'not in tenant_map',
    });
  });

  it('405 carries Allow and lists the methods in details', () => {
    const r = errorResponse(new MethodNotAllowedError(['GET', 'PUT', 'DELETE']));
    assert.equal(r.headers['allow'], 'GET, PUT, DELETE');
    assert.deepEqual(r.body.details, { allowed_methods: ['GET', 'PUT', 'DELETE'] });
  });

  it('tenant_mismatch names both tenants in details', () => {
    const r = errorResponse(new TenantMismatchError({ headerTenant: 'B', credentialTenant: 'A' }));
    assert.deepEqual(r.body.details, { header_tenant: 'B', credential_tenant: 'A' });
  });

  it('503 carries Retry-After when the condition is known to be brief, and only then', () => {
    const brief = errorResponse(new UnavailableError('busy', { retryAfterSeconds: 1 }));
    assert.equal(brief.headers['retry-after'], '1');
    assert.equal(
      errorResponse(new UnavailableError('redis down')).headers['retry-after'],
      undefined,
    );
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
