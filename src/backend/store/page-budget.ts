/**
 * The byte bound of a list page (contract §3: "A list page is bounded in bytes as well as in
 * count"). Both stores end a page early when the next user would take it past the budget, so
 * one request over users with large avatars can never make the backend hold tens of megabytes.
 */
import { publicUser, type StoredUser } from '../../common/user.js';

/** The default page budget (`PAGE_MAX_BYTES`): 4 MiB, about 15 users with the largest avatars. */
export const DEFAULT_PAGE_MAX_BYTES = 4 * 1024 * 1024;

/** The bytes a user takes in a list page: its public JSON, as the API sends it. */
export function pageBytesOf(user: StoredUser): number {
  return Buffer.byteLength(JSON.stringify(publicUser(user)), 'utf8');
}

/**
 * Whether a page that already holds `count` users taking `used` bytes has room for one of
 * `bytes` more. A page always takes its first user, however large: a page of none would give
 * a cursor that never moves.
 */
export function fitsInPage(count: number, used: number, bytes: number, maxBytes: number): boolean {
  return count === 0 || used + bytes <= maxBytes;
}
