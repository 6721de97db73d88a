/** The tenant checks: the header is required and well-formed, and names the credential's tenant. */
import type { IncomingMessage } from 'node:http';
import { canonicalId, parseTenantId } from '../common/ids.js';
import { TENANT_HEADER } from '../common/headers.js';
import { InvalidInputError, TenantMismatchError } from '../errors.js';

/** The canonical tenant id from `X-Tenant-ID` (400 when missing or malformed). */
export function readTenantHeader(req: IncomingMessage): string {
  const raw = req.headers[TENANT_HEADER];
  if (Array.isArray(raw)) {
    throw new InvalidInputError('the x-tenant-id header must appear at most once', {
      details: { header: TENANT_HEADER },
    });
  }
  if (raw === undefined || raw === '') {
    throw new InvalidInputError('the X-Tenant-ID header is required', {
      details: { header: TENANT_HEADER },
    });
  }
  return parseTenantId(raw);
}

/** 403 tenant_mismatch unless the credential's tenant is the header's tenant. */
export function assertSameTenant(credentialTenant: string, headerTenant: string): void {
  if (canonicalId(credentialTenant) !== canonicalId(headerTenant)) {
    throw new TenantMismatchError({
      headerTenant: canonicalId(headerTenant),
      credentialTenant: canonicalId(credentialTenant),
    });
  }
}
