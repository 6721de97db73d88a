/**
 * Revocations in Redis: how `token revoke` records one (a key or a hash field, and an entry on
 * the change-event stream, in one MULTI so no replica can see one without the other), how a
 * sidecar loads them all, and the entry's revocation format. Redis replies become `Revocation`s here and
 * nowhere else.
 */
import { canonicalId, isIdShaped } from '../../common/ids.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import {
  closeQuietly,
  connectWithin,
  createPlainClient,
  type PlainRedisClient,
  waitForReplica,
  writesWaitForReplica,
} from '../../common/redis-connection.js';
import { subjectKey, type Revocation } from './revocation-mirror.js';
import { DEFAULT_EVENT_STREAM_MAXLEN } from '../../common/change-events.js';

/** What a jti may look like to be revocable by name: printable ASCII, no spaces, at most 256. */
const JTI_SHAPE = /^[\x21-\x7e]{1,256}$/;
const SCAN_BATCH = 500;

/** Whether `jti` can be recorded (and so be part of a key). */
export function isRevocableJti(jti: string): boolean {
  return JTI_SHAPE.test(jti);
}

function isSeconds(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** The message published for a revocation. */
export function encodeRevocation(r: Revocation): string {
  return JSON.stringify(r);
}

/** A revocation message back as a `Revocation`; undefined for anything malformed. */
export function decodeRevocation(text: string): Revocation | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['kind'] === 'jti') {
    const { jti, expiresAt } = o;
    if (typeof jti !== 'string' || !isRevocableJti(jti) || !isSeconds(expiresAt)) return undefined;
    return { kind: 'jti', jti, expiresAt };
  }
  if (o['kind'] === 'subject') {
    const { subject, tenantId, cutoff } = o;
    if (typeof subject !== 'string' || !isIdShaped(subject) || !isSeconds(cutoff)) return undefined;
    if (tenantId === undefined) return { kind: 'subject', subject: canonicalId(subject), cutoff };
    if (typeof tenantId !== 'string' || !isIdShaped(tenantId)) return undefined;
    return {
      kind: 'subject',
      subject: canonicalId(subject),
      tenantId: canonicalId(tenantId),
      cutoff,
    };
  }
  return undefined;
}

/** A hash field of `revoked:subjects` (see `subjectKey`) and its cut-off, as a `Revocation`. */
function decodeSubjectField(field: string, value: string): Revocation | undefined {
  const cutoff = Number(value);
  if (!isSeconds(cutoff)) return undefined;
  const [a, b, extra] = field.split('/');
  if (extra !== undefined || a === undefined || !isIdShaped(a)) return undefined;
  if (b === undefined) return { kind: 'subject', subject: a, cutoff };
  if (!isIdShaped(b)) return undefined;
  return { kind: 'subject', subject: b, tenantId: a, cutoff };
}

/**
 * Stores a revocation and tells every sidecar about it, atomically. `replicaAck` (Sentinel):
 * resolves only once a replica holds it too, like every store write, so a failover right after
 * cannot lose a revocation that was reported recorded; throws `ReplicaUnconfirmedError` when no
 * replica confirmed it (it is on the primary, and in effect, but not yet safe).
 */
export async function recordRevocation(
  client: PlainRedisClient,
  keys: ClusterKeys,
  r: Revocation,
  options: { maxLen?: number; replicaAck?: boolean } = {},
): Promise<void> {
  const maxLen = options.maxLen ?? DEFAULT_EVENT_STREAM_MAXLEN;
  const multi = client.multi();
  if (r.kind === 'jti') {
    if (!isRevocableJti(r.jti)) throw new Error('a jti must be 1 to 256 printable characters');
    multi.set(keys.revokedJti(r.jti), String(r.expiresAt), {
      expiration: { type: 'EXAT', value: r.expiresAt },
    });
  } else {
    multi.hSet(keys.revokedSubjects, subjectKey(r.subject, r.tenantId), String(r.cutoff));
  }
  multi.xAdd(
    keys.events,
    '*',
    { kind: 'revoke', revocation: encodeRevocation(r) },
    { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: maxLen } },
  );
  await multi.exec();
  if (options.replicaAck === true) await waitForReplica(client);
}

/** Every revocation Redis holds now (jti entries that already expired are gone by themselves). */
export async function loadRevocations(
  client: PlainRedisClient,
  keys: ClusterKeys,
): Promise<Revocation[]> {
  const out: Revocation[] = [];
  for await (const batch of client.scanIterator({
    MATCH: keys.revokedJtiPattern,
    COUNT: SCAN_BATCH,
  })) {
    if (batch.length === 0) continue;
    const values = await client.mGet(batch);
    batch.forEach((key, i) => {
      const expiresAt = Number(values[i]);
      // null: expired between SCAN and MGET.
      if (values[i] === null || !isSeconds(expiresAt)) return;
      out.push({ kind: 'jti', jti: key.slice(keys.revokedJtiPrefixLength), expiresAt });
    });
  }
  const subjects = await client.hGetAll(keys.revokedSubjects);
  for (const [field, value] of Object.entries(subjects)) {
    const r = decodeSubjectField(field, value);
    if (r !== undefined) out.push(r);
  }
  return out;
}

/**
 * For `token revoke`: connects, records, publishes, disconnects. Fails (rather than hangs) when
 * Redis does not answer within `timeoutMs`.
 */
export async function revokeInRedis(
  url: string,
  r: Revocation,
  options: { prefix?: string; timeoutMs?: number; maxLen?: number } = {},
): Promise<void> {
  const client = createPlainClient(url, 'cedargate-cli');
  // Errors surface through the command's rejection; the event must still have a listener.
  client.on('error', () => undefined);
  await connectWithin(client, url, options.timeoutMs ?? 5_000);
  try {
    await recordRevocation(client, clusterKeys(options.prefix), r, {
      ...(options.maxLen === undefined ? {} : { maxLen: options.maxLen }),
      replicaAck: writesWaitForReplica(url),
    });
  } finally {
    await closeQuietly(client);
  }
}
