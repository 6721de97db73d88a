/**
 * Whether a Redis may hold the users store. An evicting `maxmemory-policy` silently drops keys
 * the store needs (a tenant hash, a user whose email entry stays, revocations first under
 * `volatile-*`), so the store serves only under `noeviction`. The policy is read from
 * `INFO memory`, not `CONFIG GET`: managed Redis services commonly disable CONFIG but keep INFO.
 */
import { ErrorReply } from 'redis';

/** The one policy under which Redis never drops a key on its own. */
export const SAFE_EVICTION_POLICY = 'noeviction';
/** What the operator runs to fix an evicting Redis; named in the log line and the 503. */
export const EVICTION_FIX = `CONFIG SET maxmemory-policy ${SAFE_EVICTION_POLICY}`;

/** What the check found. */
export type EvictionCheck =
  | { kind: 'safe' }
  | { kind: 'evicting'; policy: string }
  /** INFO was refused or says nothing: the store serves, with a warning (docs/scaling.md). */
  | { kind: 'unknown'; reason: string };

/** The `maxmemory_policy` line of an INFO reply, if there is one. */
export function evictionPolicyOf(info: string): string | undefined {
  const m = /^maxmemory_policy:(\S+)/m.exec(info);
  return m?.[1];
}

/** Reads the policy; a refused INFO (renamed away) is `unknown`, a lost connection throws. */
export async function checkEvictionPolicy(client: {
  info(section: string): Promise<string>;
}): Promise<EvictionCheck> {
  let info: string;
  try {
    info = await client.info('memory');
  } catch (err) {
    if (err instanceof ErrorReply) return { kind: 'unknown', reason: err.message };
    throw err;
  }
  const policy = evictionPolicyOf(info);
  if (policy === undefined)
    return { kind: 'unknown', reason: 'INFO memory has no maxmemory_policy' };
  return policy === SAFE_EVICTION_POLICY ? { kind: 'safe' } : { kind: 'evicting', policy };
}

/** The refusal, for the log line and the 503's message. */
export function evictionRefusal(policy: string): string {
  return (
    `the users store refuses to serve: Redis maxmemory-policy is ${policy}, which evicts keys ` +
    `the store needs; run \`${EVICTION_FIX}\` (and set it in redis.conf)`
  );
}

/** Redis's `-OOM` reply: under noeviction a write past maxmemory is refused, not evicted. */
export function isOutOfMemoryError(err: unknown): boolean {
  return err instanceof ErrorReply && err.message.startsWith('OOM ');
}
