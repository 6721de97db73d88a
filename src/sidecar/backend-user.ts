/**
 * The users backend's JSON for one user (docs/backend-contract.md), read once: every field the
 * sidecar relies on checked, and the first that is wrong named with what it holds and what it
 * should. The sidecar's look-up (upstream.ts `parseUserRecord`) and `cedargate backend-check`
 * both read a user through here, so the check an operator runs is the sidecar's own.
 */
import { canonicalId } from '../common/ids.js';

/** A user as the backend sends it, its fields checked (the email is not read). */
export interface BackendUser {
  id: string;
  tenant_id: string;
  name: string;
  roles: string[];
  is_owner: boolean;
  avatar: string | null;
}

/**
 * Why a backend's JSON is not the user asked for: `shape` (not an object, or a field of the wrong
 * type) or `identity` (another tenant's user, or another user than the one asked for). The message
 * names the field, its value and what it should be: for an operator, never for a client.
 */
export class BackendUserError extends Error {
  constructor(
    readonly kind: 'shape' | 'identity',
    message: string,
  ) {
    super(message);
    this.name = 'BackendUserError';
  }
}

/** Each field, in the order it is checked: what it must be, and the test. */
const FIELDS: ReadonlyArray<[keyof BackendUser, string, (v: unknown) => boolean]> = [
  ['id', 'a string', (v) => typeof v === 'string'],
  ['tenant_id', 'a string', (v) => typeof v === 'string'],
  ['name', 'a string', (v) => typeof v === 'string'],
  [
    'roles',
    'an array of strings',
    (v) => Array.isArray(v) && v.every((r) => typeof r === 'string'),
  ],
  ['is_owner', 'true or false', (v) => typeof v === 'boolean'],
  ['avatar', 'a string or null', (v) => v === null || typeof v === 'string'],
];

/**
 * `raw` (parsed JSON) as a {@link BackendUser}; with `expected`, it must be a user of that tenant
 * (and, given `userId`, that user): a backend that answered for another tenant must never be
 * decided on. Throws {@link BackendUserError}.
 */
export function readBackendUser(
  raw: unknown,
  expected?: { tenantId: string; userId?: string },
): BackendUser {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BackendUserError('shape', 'not a JSON object');
  }
  const u = raw as Record<string, unknown>;
  for (const [field, want, ok] of FIELDS) {
    if (!ok(u[field])) {
      throw new BackendUserError(
        'shape',
        `field ${field} is ${JSON.stringify(u[field]) ?? 'missing'}, want ${want}`,
      );
    }
  }
  const user = u as unknown as BackendUser;
  const other = (field: string, want: string) =>
    new BackendUserError('identity', `field ${field} is ${JSON.stringify(u[field])}, want ${want}`);
  if (expected !== undefined) {
    if (canonicalId(user.tenant_id) !== canonicalId(expected.tenantId)) {
      throw other('tenant_id', `the tenant asked for (${expected.tenantId})`);
    }
    if (expected.userId !== undefined && canonicalId(user.id) !== canonicalId(expected.userId)) {
      throw other('id', `the user asked for (${expected.userId})`);
    }
  }
  const { id, tenant_id, name, roles, is_owner, avatar } = user;
  return { id, tenant_id, name, roles, is_owner, avatar };
}
