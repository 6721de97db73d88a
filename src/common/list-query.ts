/**
 * The list query of `GET /v1/users` (`limit`, `cursor`), checked by one set of rules on both
 * sides of the wire: the sidecar refuses what the backend would, and both stores enforce the same
 * page limits, so the bound cannot drift between the four places that read it.
 */
import { InvalidInputError } from '../errors.js';

export const MIN_PAGE_LIMIT = 1;
export const MAX_PAGE_LIMIT = 200;
export const DEFAULT_PAGE_LIMIT = 50;

/** A page limit as the client may write it: 1..999 without sign, zeros in front or exponent. */
const LIMIT_SPELLING = /^[1-9]\d{0,2}$/;
/** A cursor as this API issues it (base64url); what it names is checked by the store. */
const CURSOR_SPELLING = /^[A-Za-z0-9_-]{1,128}$/;

const limitError = () =>
  new InvalidInputError(
    `limit must be a whole number from ${MIN_PAGE_LIMIT} to ${MAX_PAGE_LIMIT}`,
    { details: { parameter: 'limit' } },
  );

/** Throws 400 unless `limit` is a whole number in the page limits (the stores' own check). */
export function checkPageLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < MIN_PAGE_LIMIT || limit > MAX_PAGE_LIMIT)
    throw limitError();
  return limit;
}

/** The `limit` parameter as a number; the default when it is absent, 400 when it is not one. */
export function parseLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_PAGE_LIMIT;
  if (typeof raw !== 'string' || !LIMIT_SPELLING.test(raw)) throw limitError();
  return checkPageLimit(Number(raw));
}

/** True when `cursor` is spelled as the cursors this API issues. */
export function isCursorShaped(cursor: string): boolean {
  return CURSOR_SPELLING.test(cursor);
}

/** The `cursor` parameter, undefined when absent, 400 when it is not spelled as a cursor. */
export function parseCursor(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !isCursorShaped(raw)) {
    throw new InvalidInputError('cursor is not a cursor this API returned', {
      details: { parameter: 'cursor' },
    });
  }
  return raw;
}
