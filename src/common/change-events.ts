/**
 * The change-event stream: one Redis Stream to which the users store appends every write (in the
 * write's own Lua script) and `token revoke` every revocation (in the same MULTI as the record),
 * and which every sidecar reads from the last id it applied. Both sides meet here, in `common`,
 * because the backend writes what the sidecar reads and neither may import the other.
 *
 * Entry fields (flat pairs, as XADD takes them):
 *   kind=user    tenant=<TENANT> user=<USER> version=<n, or 0 when deleted>
 *   kind=revoke  revocation=<JSON of the revocation, decoded by the sidecar>
 */
import { canonicalId, isIdShaped } from './ids.js';
import { DEFAULT_KEY_PREFIX } from './redis-connection.js';

/** The stream's key under `prefix`. */
export function eventStreamKey(prefix: string = DEFAULT_KEY_PREFIX): string {
  return `${prefix}events`;
}

/** EVENT_STREAM_MAXLEN's default: 10–20 MB of stream, sized in docs/scaling.md. */
export const DEFAULT_EVENT_STREAM_MAXLEN = 100_000;

/** One entry of the stream, as the sidecar applies it. */
export type ChangeEvent =
  | { kind: 'user'; tenantId: string; userId: string; version: number }
  | { kind: 'revoke'; revocation: string };

/** An entry's flat field list back as an event; undefined for anything malformed. */
export function decodeChangeEvent(fields: readonly string[]): ChangeEvent | undefined {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(String(fields[i]), String(fields[i + 1]));
  if (f.get('kind') === 'user') {
    const tenantId = f.get('tenant');
    const userId = f.get('user');
    const version = Number(f.get('version'));
    if (tenantId === undefined || userId === undefined) return undefined;
    if (!isIdShaped(tenantId) || !isIdShaped(userId) || !Number.isSafeInteger(version))
      return undefined;
    return { kind: 'user', tenantId: canonicalId(tenantId), userId: canonicalId(userId), version };
  }
  if (f.get('kind') === 'revoke') {
    const revocation = f.get('revocation');
    return revocation === undefined ? undefined : { kind: 'revoke', revocation };
  }
  return undefined;
}

/** A stream id (`<ms>-<seq>`) as two numbers; undefined when it is not one. */
function parseStreamId(id: string): [number, number] | undefined {
  const m = /^(\d+)-(\d+)$/.exec(id);
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2])];
}

/** Whether `id` is a stream id. */
export function isStreamId(id: string): boolean {
  return parseStreamId(id) !== undefined;
}

/** <0, 0, >0 as `a` comes before, is, or comes after `b` in the stream's order. */
export function compareStreamIds(a: string, b: string): number {
  const x = parseStreamId(a) ?? [0, 0];
  const y = parseStreamId(b) ?? [0, 0];
  return x[0] !== y[0] ? x[0] - y[0] : x[1] - y[1];
}

/** The Redis server time (ms since the epoch) an id was made at. */
export function streamIdTimeMs(id: string): number {
  return parseStreamId(id)?.[0] ?? 0;
}
