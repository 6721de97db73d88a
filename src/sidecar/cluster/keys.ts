/**
 * The names cedargate's cluster features use in Redis, in one place (docs/scaling.md lists them).
 * The users store keeps its own keys in src/backend/store/redis.ts, under the same prefix.
 */
import { DEFAULT_KEY_PREFIX } from '../../common/redis-connection.js';
import { eventStreamKey } from '../../common/change-events.js';

export interface ClusterKeys {
  /** String `revoked:jti:<jti>` = the token's exp; expires (EXPIREAT) when the token would. */
  revokedJti(jti: string): string;
  /** SCAN pattern matching every revoked-jti key. */
  revokedJtiPattern: string;
  /** Length of the revoked-jti key prefix, to read the jti back out of a key. */
  revokedJtiPrefixLength: number;
  /** Hash `revoked:subjects`: subject (or tenant/subject) → cut-off; kept until removed. */
  revokedSubjects: string;
  /** Stream: every user write and every revocation (src/common/change-events.ts). */
  events: string;
}

/** The cluster's key and channel names under `prefix`. */
export function clusterKeys(prefix: string = DEFAULT_KEY_PREFIX): ClusterKeys {
  const jtiPrefix = `${prefix}revoked:jti:`;
  return {
    revokedJti: (jti) => `${jtiPrefix}${jti}`,
    revokedJtiPattern: `${escapeGlob(jtiPrefix)}*`,
    revokedJtiPrefixLength: jtiPrefix.length,
    revokedSubjects: `${prefix}revoked:subjects`,
    events: eventStreamKey(prefix),
  };
}

/** A prefix with glob characters must match itself only in SCAN MATCH. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
