/** The tenant checks: the header is required and well-formed, and names the credential's tenant. */
import type { IncomingMessage } from 'node:http';
import { canonicalId, parseTenantId } from '../common/ids.js';
import { TENANT_HEADER } from '../common/headers.js';
import { InvalidInputError, TenantMismatchError } from '../errors.js';
import type { VerifiedCredential } from './authn/verifier.js';

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

/**
 * 403 tenant_mismatch when the credential's issuer may not speak for the tenant it names (not one
 * of the issuer's `tenants`, or a claim value its `tenant_map` does not list), whatever tenant
 * the header names. Runs before anything is looked up in that tenant; a missing or malformed
 * header is still 400 first, as the contract's order says.
 */
export function assertIssuerMaySpeakFor(
  credential: VerifiedCredential,
  req: IncomingMessage,
): void {
  if (credential.tenantRefusal === undefined) return;
  const headerTenant = readTenantHeader(req);
  throw new TenantMismatchError(
    {
      headerTenant,
      credentialTenant: credential.tenantId === '' ? null : credential.tenantId,
    },
    { details: { issuer: credential.issuer, reason: credential.tenantRefusal } },
  );
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
