/**
 * The tenant checks on their own: `X-Tenant-ID` is required, sent once and an id (its canonical
 * upper-case form is what the request goes on with); the credential's tenant must be the
 * header's, in any case spelling, or 403 tenant_mismatch.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { CedargateError } from '../../../src/errors.js';
import { assertSameTenant, readTenantHeader } from '../../../src/sidecar/tenancy.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const OTHER = 'BBBBBBBB-0000-4000-8000-000000000000';

const withTenant = (value: string | string[] | undefined) =>
  ({ headers: value === undefined ? {} : { 'x-tenant-id': value } }) as unknown as IncomingMessage;

const refused = (status: number, code: string) => (e: unknown) =>
  e instanceof CedargateError && e.status === status && e.code === code;

describe('tenancy: the X-Tenant-ID header', () => {
  it('gives the canonical tenant id', () => {
    assert.equal(readTenantHeader(withTenant(T)), T);
    assert.equal(readTenantHeader(withTenant(T.toLowerCase())), T);
  });

  it('missing or empty → 400 invalid_input naming the header', () => {
    for (const value of [undefined, '']) {
      assert.throws(
        () => readTenantHeader(withTenant(value)),
        (e: unknown) =>
          refused(400, 'invalid_input')(e) &&
          (e as CedargateError).details?.['header'] === 'x-tenant-id',
      );
    }
  });

  it('sent twice → 400 invalid_input', () => {
    assert.throws(() => readTenantHeader(withTenant([T, OTHER])), refused(400, 'invalid_input'));
  });

  it('not an id (path tricks, control bytes, non-ASCII, a list) → 400 invalid_input', () => {
    for (const value of [
      'x',
      `${T}/..`,
      `${T}\u0000`,
      `${T} `,
      'ÄAAAAAAA-0000-4000-8000-000000000000',
      `${T}, ${OTHER}`,
    ]) {
      assert.throws(
        () => readTenantHeader(withTenant(value)),
        refused(400, 'invalid_input'),
        value,
      );
    }
  });
});

describe('tenancy: the credential names the header tenant', () => {
  it('the same tenant in any case spelling passes', () => {
    assert.doesNotThrow(() => assertSameTenant(T, T));
    assert.doesNotThrow(() => assertSameTenant(T.toLowerCase(), T));
  });

  it('another tenant → 403 tenant_mismatch', () => {
    assert.throws(() => assertSameTenant(OTHER, T), refused(403, 'tenant_mismatch'));
  });
});
