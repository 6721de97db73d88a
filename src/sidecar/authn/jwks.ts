/** A key set as read from a file or a URL: checked once, summarized for /status. */
import type { createLocalJWKSet, JWK } from 'jose';

type Jwks = Parameters<typeof createLocalJWKSet>[0];

/** `value` as a JWKS of public keys, or an Error naming `where` and what is wrong. */
export function checkPublicJwks(value: unknown, where: string): Jwks {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${where} is not a JWKS: expected {"keys": [ ...at least one JWK ]}`);
  }
  for (const key of keys) {
    if (typeof key !== 'object' || key === null)
      throw new Error(`${where}: a key is not an object`);
    if ('d' in key) {
      // A private key in a set we read as public is a leak waiting to happen; refuse it.
      throw new Error(`${where} contains a private key; publish only public keys`);
    }
  }
  return value as Jwks;
}

/** The kids and algorithms a set publishes, for /status (a key without `alg`: its `kty`). */
export function summarizeJwks(keys: readonly JWK[]): { kids: string[]; algorithms: string[] } {
  const kids = keys.map((k) => (typeof k.kid === 'string' ? k.kid : '(no kid)'));
  const algorithms = [
    ...new Set(keys.map((k) => (typeof k.alg === 'string' ? k.alg : `${String(k.kty)} (no alg)`))),
  ];
  return { kids, algorithms: algorithms.sort() };
}
