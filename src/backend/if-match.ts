/**
 * `If-Match` for PUT and DELETE (RFC 9110 §13.1.1): strong comparison against the user's
 * current ETag; `*` matches any existing user.
 */
import { InvalidInputError, PreconditionFailedError } from '../errors.js';
import { etagOf, type StoredUser } from '../common/user.js';

const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;

/**
 * The version a write must find, given the request's `If-Match` and the user as just read:
 * `undefined` when the write is unconditional (no header, or `*`), the current version when a
 * listed tag matches it. Throws PreconditionFailedError (412) when none matches, and
 * InvalidInputError (400) for a header that is not a list of quoted entity tags.
 */
export function expectedVersionFor(
  ifMatch: string | undefined,
  current: StoredUser,
): number | undefined {
  if (ifMatch === undefined) return undefined;
  const trimmed = ifMatch.trim();
  if (trimmed === '*') return undefined;
  const tags = trimmed.split(',').map((t) => t.trim());
  if (tags.some((t) => !ENTITY_TAG.test(t))) {
    throw new InvalidInputError('If-Match must be * or a list of quoted entity tags', {
      details: { field: 'If-Match' },
    });
  }
  // Weak tags never match: If-Match uses the strong comparison.
  if (!tags.includes(etagOf(current))) throw new PreconditionFailedError();
  return current.version;
}
