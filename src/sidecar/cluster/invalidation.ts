/**
 * The user-changed message: which user a replica just wrote, so that every other replica drops
 * what it cached about that user. Both ids are checked on the way in: a message is data from
 * the network like any other.
 */
import { canonicalId, isIdShaped } from '../../common/ids.js';

/** `<TENANT>/<USER>`, canonical ids. */
export function encodeUserChanged(tenantId: string, userId: string): string {
  return `${canonicalId(tenantId)}/${canonicalId(userId)}`;
}

/** The ids of a user-changed message, or undefined for anything malformed. */
export function decodeUserChanged(
  message: string,
): { tenantId: string; userId: string } | undefined {
  const [tenantId, userId, extra] = message.split('/');
  if (extra !== undefined || tenantId === undefined || userId === undefined) return undefined;
  if (!isIdShaped(tenantId) || !isIdShaped(userId)) return undefined;
  return { tenantId: canonicalId(tenantId), userId: canonicalId(userId) };
}
