/**
 * Where the request path meets the fair scheduler (fair-scheduler.ts): which tenant's queue a
 * step waits in, and which steps wait at all. Cached work never waits.
 *
 * A credential is verified before the tenant is known for sure (contract §4: the credential
 * comes first), so the queue of a cold verification is the `X-Tenant-ID` tenant's — but only
 * when that tenant has had a credential verified here before. Otherwise anyone could name a new
 * tenant per request and get a queue, and a turn, for each: verifications for tenants not yet
 * seen share one queue of their own. The verified tenant must still match the header after
 * (tenancy.ts), exactly as before.
 */
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';
import { TENANT_HEADER } from '../common/headers.js';
import { canonicalId, isIdShaped } from '../common/ids.js';
import type { CredentialVerifier, VerifiedCredential } from './authn/verifier.js';
import type { FairScheduler, FairSchedulerStats } from './fair-scheduler.js';

/** The one queue of verifications whose header names a tenant not verified here before. */
export const UNSEEN_TENANTS = '(unseen tenants)';

/** Options of {@link createFairGate}. */
export interface FairGateOptions {
  scheduler: FairScheduler;
  /** Tenants remembered as verified here (default 10 000). */
  tenantsMax?: number;
}

export interface FairGate {
  /**
   * Verifies the request's credential with `verifier`; a credential its cache does not hold
   * first waits for its tenant's turn. Errors are the verifier's, or 503 from a full queue.
   */
  verify(verifier: CredentialVerifier, req: IncomingMessage): Promise<VerifiedCredential>;
  /** Runs uncached `work` of `cost` in the verified `tenant`'s turn. */
  run<T>(tenant: string, cost: number, work: () => T | Promise<T>): Promise<T>;
  stats(): FairSchedulerStats;
}

/** Builds the gate over `options.scheduler`. */
export function createFairGate(options: FairGateOptions): FairGate {
  const { scheduler } = options;
  const tenants = new LRUCache<string, true>({ max: options.tenantsMax ?? 10_000 });
  // One queued verification per credential: a burst of requests with one cold token waits for
  // one turn, not one each (its copies would fill the tenant's queue with the same work).
  const verifying = new Map<string, Promise<VerifiedCredential>>();

  /** A credential the verifier's cache does not hold: its tenant's turn first (one per copy). */
  async function verifyInTurn(
    verifier: CredentialVerifier,
    req: IncomingMessage,
    authorization: string | string[] | undefined,
  ): Promise<VerifiedCredential> {
    const claimed = headerTenantOf(req);
    const queue = claimed !== undefined && tenants.has(claimed) ? claimed : UNSEEN_TENANTS;
    const shareKey = typeof authorization === 'string' ? `${queue} ${authorization}` : undefined;
    let turn = shareKey === undefined ? undefined : verifying.get(shareKey);
    if (turn === undefined) {
      turn = scheduler.run(queue, 1, () => verifier.verify(authorization));
      if (shareKey !== undefined) {
        verifying.set(shareKey, turn);
        const forget = () => verifying.delete(shareKey);
        turn.then(forget, forget);
      }
    }
    const credential = await turn;
    // Only a tenant a valid credential speaks for gets a queue of its own.
    if (claimed !== undefined && canonicalId(credential.tenantId) === claimed)
      tenants.set(claimed, true);
    return credential;
  }

  return {
    // Not async: a warm credential is the verifier's own promise, with no wrapper around it
    // (an async function returning a promise costs another promise and two more ticks). Warm is
    // what the verifier's cache holds: one look-up, no second record of "verified lately".
    verify(verifier, req) {
      const authorization = req.headers.authorization;
      return verifier.verifyCached(authorization) ?? verifyInTurn(verifier, req, authorization);
    },
    run: (tenant, cost, work) => scheduler.run(canonicalId(tenant), cost, work),
    stats: () => scheduler.stats(),
  };
}

/** The canonical tenant of a single well-formed `X-Tenant-ID`, or undefined (checked later). */
function headerTenantOf(req: IncomingMessage): string | undefined {
  const raw = req.headers[TENANT_HEADER];
  return typeof raw === 'string' && isIdShaped(raw) ? canonicalId(raw) : undefined;
}
