/**
 * A verified token's claims → the user and the tenant it names, by its issuer's claim paths and
 * tenant map. A claim that is missing or of the wrong type is a 401 with a reason; a tenant the
 * issuer may not speak for (or a value its `tenant_map` does not list) is not decided here: it
 * is recorded on the credential, and the tenant check answers 403 `tenant_mismatch`.
 */
import { readClaim, type ClaimPath } from '../../common/claim-path.js';
import { canonicalId, isIdShaped } from '../../common/ids.js';
import { UnauthenticatedError } from '../../errors.js';
import type { TrustedIssuer } from './issuers.js';

/** Longest tenant claim value looked up in a tenant map. */
const MAX_TENANT_VALUE_LENGTH = 256;

/** Who and which tenant a verified token names. */
export interface CredentialIdentity {
  /** Canonical (upper-case) user id. */
  subject: string;
  /** Canonical tenant id; '' when `tenantRefusal` says there is none. */
  tenantId: string;
  /** Why this issuer may not speak for the tenant; undefined when it may. */
  tenantRefusal: string | undefined;
}

/** Reads the user and the tenant of `payload` as `issuer` says; throws a 401 with a reason. */
export function identityOf(
  payload: Readonly<Record<string, unknown>>,
  issuer: TrustedIssuer,
): CredentialIdentity {
  const subject = readString(payload, issuer.userClaim, 'missing or bad user claim');
  if (!isIdShaped(subject)) {
    throw new UnauthenticatedError(`${issuer.userClaim.spec} is not a UUID-shaped user id`, {
      category: 'missing or bad user claim',
    });
  }
  const { tenantId, tenantRefusal } = tenantOf(payload, issuer);
  return { subject: canonicalId(subject), tenantId, tenantRefusal };
}

function tenantOf(
  payload: Readonly<Record<string, unknown>>,
  issuer: TrustedIssuer,
): { tenantId: string; tenantRefusal: string | undefined } {
  const value = readString(payload, issuer.tenantClaim, 'missing or bad tenant claim');
  let tenantId: string;
  if (issuer.tenantMap !== undefined) {
    const mapped =
      value.length <= MAX_TENANT_VALUE_LENGTH ? issuer.tenantMap.get(value) : undefined;
    if (mapped === undefined) {
      return {
        tenantId: '',
        tenantRefusal: `the ${issuer.tenantClaim.spec} claim's value is not in the issuer's tenant_map`,
      };
    }
    tenantId = mapped;
  } else {
    if (!isIdShaped(value)) {
      throw new UnauthenticatedError(`${issuer.tenantClaim.spec} is not a UUID-shaped tenant id`, {
        category: 'missing or bad tenant claim',
      });
    }
    tenantId = canonicalId(value);
  }
  const allowed = issuer.tenants === '*' || issuer.tenants.has(tenantId);
  return {
    tenantId,
    tenantRefusal: allowed ? undefined : 'the issuer may not speak for this tenant',
  };
}

function readString(
  payload: Readonly<Record<string, unknown>>,
  path: ClaimPath,
  category: 'missing or bad user claim' | 'missing or bad tenant claim',
): string {
  const value = readClaim(payload, path);
  if (value === undefined) {
    throw new UnauthenticatedError(`"${path.spec}" claim is missing`, { category });
  }
  if (typeof value !== 'string') {
    throw new UnauthenticatedError(`"${path.spec}" claim is a ${kindOf(value)}, not a string`, {
      category,
    });
  }
  return value;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value;
}
