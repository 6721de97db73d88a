/**
 * For the cluster channel's unit suites: a credential, a recorder of what the channel told the
 * sidecar, the revocation verdict, and a user event appended as the store's scripts do.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { UnauthenticatedError, UnavailableError } from '../../src/errors.js';
import type { VerifiedCredential } from '../../src/sidecar/authn/verifier.js';
import { clusterKeys } from '../../src/sidecar/cluster/keys.js';
import type { RedisCluster } from '../../src/sidecar/cluster/redis-cluster.js';

export const T = 'AAAAAAAA-0000-4000-8000-000000000001';

export function credential(over: Partial<VerifiedCredential> = {}): VerifiedCredential {
  const nowS = Math.floor(Date.now() / 1000);
  return {
    token: 'x',
    issuer: 'https://issuer.test/',
    subject: randomUUID().toUpperCase(),
    tenantId: T,
    tenantRefusal: undefined,
    jti: randomUUID(),
    issuedAt: nowS - 10,
    expiresAt: nowS + 3600,
    claims: {},
    ...over,
  };
}

/** Records what the cluster told the sidecar. */
export function recorder() {
  const events = { changed: [] as string[], degraded: 0, recovered: 0, lost: 0 };
  return {
    events,
    handlers: {
      onUserChanged: (t: string, u: string) => void events.changed.push(`${t}/${u}`),
      onDegraded: () => void (events.degraded += 1),
      onRecovered: () => void (events.recovered += 1),
      onEventsLost: () => void (events.lost += 1),
    },
  };
}

/** What assertNotRevoked does with `cred`: 'ok', or the error code. */
export function verdict(cluster: RedisCluster, cred: VerifiedCredential): string {
  try {
    cluster.revocation.assertNotRevoked(cred);
    return 'ok';
  } catch (err) {
    if (err instanceof UnauthenticatedError || err instanceof UnavailableError) return err.code;
    throw err;
  }
}

/** Appends a user event as the store's scripts do. */
export async function addUserEvent(url: string, prefix: string, tenantId: string, userId: string) {
  const raw = createClient({ url });
  await raw.connect();
  try {
    return await raw.xAdd(clusterKeys(prefix).events, '*', {
      kind: 'user',
      tenant: tenantId,
      user: userId,
      version: '2',
    });
  } finally {
    await raw.close();
  }
}
