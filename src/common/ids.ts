/**
 * User and tenant ids: UUID-shaped hex (8-4-4-4-12), compared without regard to case. The
 * canonical form, the one stored and returned, is upper case.
 */
import { randomUUID } from 'node:crypto';
import { InvalidInputError } from '../errors.js';

const ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The canonical spelling of an id, shaped or not (a token's subject need not be UUID-shaped):
 * ids compare without regard to case, so every key, comparison and stored value goes through
 * this one function and case can never split one user into two.
 */
export function canonicalId(raw: string): string {
  return raw.toUpperCase();
}

/** Whether `raw` is UUID-shaped hex, in any case. */
export function isIdShaped(raw: string): boolean {
  return ID_SHAPE.test(raw);
}

function parseId(raw: string, what: string, field: string): string {
  if (!ID_SHAPE.test(raw)) {
    throw new InvalidInputError(`${what} must be UUID-shaped hex (8-4-4-4-12)`, {
      details: { field },
    });
  }
  return canonicalId(raw);
}

/** The canonical (upper-case) form of a user id; InvalidInputError (400) for anything else. */
export function parseUserId(raw: string): string {
  return parseId(raw, 'user id', 'id');
}

/** The canonical (upper-case) form of a tenant id; InvalidInputError (400) for anything else. */
export function parseTenantId(raw: string): string {
  return parseId(raw, 'tenant id', 'tenant_id');
}

/** A fresh random user id, canonical. */
export function newUserId(): string {
  return canonicalId(randomUUID());
}

/** A fresh random tenant id, canonical. */
export function newTenantId(): string {
  return canonicalId(randomUUID());
}
