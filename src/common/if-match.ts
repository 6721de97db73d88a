/**
 * `If-Match` for PUT and DELETE (RFC 9110 §13.1.1), judged the same way by the sidecar and the
 * backend: `*` or a list of quoted entity tags, strong comparison, weak tags never match.
 */
import { InvalidInputError, PreconditionFailedError } from '../errors.js';
import { etagOf, type StoredUser } from './user.js';

const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;
const STRONG_ENTITY_TAG = /^"[\x21\x23-\x7e]*"$/;

/**
 * Whether `tag` is a strong entity tag (RFC 9110 §8.8.3): quoted, no `W/`. Its inner form is
 * the backend's own; cedargate only compares whole tags for equality.
 */
export function isStrongEntityTag(tag: string): boolean {
  return STRONG_ENTITY_TAG.test(tag);
}

/** `undefined` (no header), `'*'`, or the listed tags; 400 for anything else. */
export type IfMatch = undefined | '*' | readonly string[];

export function parseIfMatch(raw: string | undefined): IfMatch {
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  if (trimmed === '*') return '*';
  const tags = trimmed.split(',').map((t) => t.trim());
  if (tags.some((t) => !ENTITY_TAG.test(t))) {
    throw new InvalidInputError('If-Match must be * or a list of quoted entity tags', {
      details: { field: 'If-Match' },
    });
  }
  return tags;
}

/** Whether a parsed `If-Match` accepts the current ETag (strong comparison). */
export function ifMatchAccepts(ifMatch: IfMatch, etag: string): boolean {
  return ifMatch === undefined || ifMatch === '*' || ifMatch.includes(etag);
}

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
  const parsed = parseIfMatch(ifMatch);
  if (parsed === undefined || parsed === '*') return undefined;
  if (!ifMatchAccepts(parsed, etagOf(current))) throw new PreconditionFailedError();
  return current.version;
}
