/**
 * The store's generation: a random id written once (SET NX) under the key prefix, read at start
 * and remembered by every process that uses the store (backends, sidecars). A Redis that comes
 * back with less data than it had — restarted without persistence, flushed — has no generation
 * or, once someone wrote one again, a different one; every process then knows that what it
 * remembers (caches, the stream cursor, revocations, ETags) may name data that no longer exists.
 * An older snapshot brings its own, older generation back unchanged: whoever notices that the
 * change stream went back writes a fresh one (`rotateGeneration`), so the others learn it the
 * same way. Both sides meet here because the backend and the sidecar must agree on the key.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_KEY_PREFIX } from './redis-connection.js';
import type { Logger } from './logger.js';

/** The generation's key under `prefix`. */
export function generationKey(prefix: string = DEFAULT_KEY_PREFIX): string {
  return `${prefix}generation`;
}

/** A fresh generation id: 16 hex digits, so it fits inside a quoted ETag as it is. */
export function newGenerationId(): string {
  return randomBytes(8).toString('hex');
}

/** The part of a Redis client these helpers use. */
interface Commands {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * The store's generation, writing a fresh one first when there is none: one round trip
 * (`SET NX GET`, Redis 7), so concurrent starters agree on whichever id won.
 */
export async function ensureGeneration(
  client: Commands,
  prefix: string = DEFAULT_KEY_PREFIX,
): Promise<string> {
  const fresh = newGenerationId();
  const reply = await client.sendCommand(['SET', generationKey(prefix), fresh, 'NX', 'GET']);
  return typeof reply === 'string' ? reply : fresh;
}

const ROTATE = `
  local now = redis.call('GET', KEYS[1])
  if now == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return ARGV[2] end
  if now then return now end
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]`;

/**
 * Replaces `stale` by a fresh id, unless another process already replaced it (then its id is
 * the answer): many replicas noticing the same rollback make one new generation, not many.
 */
export async function rotateGeneration(
  client: Commands,
  stale: string,
  prefix: string = DEFAULT_KEY_PREFIX,
): Promise<string> {
  const reply = await client.sendCommand([
    'EVAL',
    ROTATE,
    '1',
    generationKey(prefix),
    stale,
    newGenerationId(),
  ]);
  return String(reply);
}

/** The changes this process has already logged (`old→new`): see `logGenerationChange`. */
const logged = new Set<string>();

/**
 * The one loud line (error level, `store_generation_changed`) for a change of generation. In
 * `start` the backend's store and the sidecar share a process and both notice: the line is
 * written by whichever notices first, once per process, so an operator sees it exactly once.
 */
export function logGenerationChange(
  logger: Logger | undefined,
  change: { old: string | undefined; new: string; reason: string; component: string },
): void {
  const key = `${change.old ?? '-'}→${change.new}`;
  if (logged.has(key)) return;
  logged.add(key);
  logger?.error(
    {
      event: 'store_generation_changed',
      old: change.old ?? null,
      new: change.new,
      reason: change.reason,
      noticedBy: change.component,
    },
    'store_generation_changed: Redis came back with less data than it had (restarted without ' +
      'persistence, flushed, or an older snapshot); caches dropped, revocations re-asserted, ' +
      'users written since the data went back are gone',
  );
}
