/** The tenant checks: the header is required and well-formed, and names the credential's tenant. */
import type { IncomingMessage } from 'node:http';
import { parseTenantId } from '../common/ids.js';
import { InvalidInputError, TenantMismatchError } from '../errors.js';

/** The canonical tenant id from `X-Tenant-ID` (400 when missing or malformed). */
export function readTenantHeader(req: IncomingMessage): string {
  const raw = req.headers['x-tenant-id'];
  if (Array.isArray(raw)) {
    throw new InvalidInputError('the x-tenant-id header must appear at most once', {
      details: { header: 'x-tenant-id' },
    });
  }
  if (raw === undefined || raw === '') {
    throw new InvalidInputError('the X-Tenant-ID header is required', {
      details: { header: 'x-tenant-id' },
    });
  }
  return parseTenantId(raw);
}

/** 403 tenant_mismatch unless the credential's tenant is the header's tenant. */
export function assertSameTenant(credentialTenant: string, headerTenant: string): void {
  if (credentialTenant.toUpperCase() !== headerTenant.toUpperCase())
    throw new TenantMismatchError();
}
