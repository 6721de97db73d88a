/**
 * The list cursor both stores issue: base64url of `created_at|id` of the last user of the
 * previous page. Opaque to clients; checked strictly, since it comes back from them.
 */
import { canonicalId, isIdShaped } from '../../common/ids.js';
import { isCursorShaped } from '../../common/list-query.js';
import { InvalidInputError } from '../../errors.js';

/** Where a page ends: the sort key of its last user. */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.createdAt}|${position.id}`, 'utf8').toString('base64url');
}

/** The position a cursor names; 400 `invalid_input` for anything this server did not issue. */
export function decodeCursor(cursor: string): CursorPosition {
  const bad = new InvalidInputError('cursor is not one this server issued', {
    details: { field: 'cursor' },
  });
  if (!isCursorShaped(cursor)) throw bad;
  const [createdAt, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (
    extra !== undefined ||
    createdAt === undefined ||
    id === undefined ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(createdAt) ||
    !isIdShaped(id)
  ) {
    throw bad;
  }
  return { createdAt, id: canonicalId(id) };
}
