/**
 * The sidecar's local copy of the revocation list. The hot path asks it on every request, so it
 * is a pair of maps and never touches the network; Redis fills it (a full load at start and after
 * every reconnect, then one pub/sub message per revocation).
 *
 * Revocations only accumulate: merging a load into what pub/sub already delivered can never
 * forget one that arrived while the load was in flight. A jti entry leaves when its token would
 * have expired anyway.
 */
import { canonicalId } from '../../common/ids.js';
import type { VerifiedCredential } from '../authn/verifier.js';

/** One revocation, as `token revoke` records it. Times are seconds since the epoch (JWT style). */
export type Revocation =
  | {
      kind: 'jti';
      jti: string;
      /** The token's `exp`: after it the entry is useless and is dropped. */
      expiresAt: number;
    }
  | {
      kind: 'subject';
      /** Canonical (upper-case) user id. */
      subject: string;
      /** Only this tenant's tokens of the subject; undefined = in every tenant. */
      tenantId?: string;
      /**
       * Tokens of the subject issued at or before this second are revoked (widened by the
       * verifier's clock tolerance when the mirror checks: see `createRevocationMirror`).
       */
      cutoff: number;
    };

/** Why a credential is refused, for the log. */
export type RevokedBy = 'jti' | 'subject';

export interface RevocationMirror {
  /** Adds one revocation (a pub/sub message or one entry of a load). */
  apply(revocation: Revocation): void;
  /** Merges a full load from Redis. */
  merge(revocations: Iterable<Revocation>): void;
  /** Whether the credential is revoked, and by what; null when it is not. */
  check(
    cred: Pick<VerifiedCredential, 'subject' | 'tenantId' | 'jti' | 'issuedAt'>,
  ): RevokedBy | null;
  size(): { jtis: number; subjects: number };
  /** Every revocation held, unexpired (to re-assert them in a store that lost them). */
  entries(): Revocation[];
}

/**
 * Those of `mine` that `stored` lacks or holds weaker (an earlier jti expiry, an earlier subject
 * cut-off): what a store that came back with less data must be told again. Re-asserting a
 * revocation only ever refuses more, so writing these back is always safe.
 */
export function revocationsMissingFrom(
  mine: readonly Revocation[],
  stored: readonly Revocation[],
): Revocation[] {
  const jtis = new Map<string, number>();
  const cutoffs = new Map<string, number>();
  for (const r of stored) {
    if (r.kind === 'jti') jtis.set(r.jti, Math.max(jtis.get(r.jti) ?? 0, r.expiresAt));
    else {
      const key = subjectKey(r.subject, r.tenantId);
      cutoffs.set(key, Math.max(cutoffs.get(key) ?? 0, r.cutoff));
    }
  }
  return mine.filter((r) =>
    r.kind === 'jti'
      ? (jtis.get(r.jti) ?? -1) < r.expiresAt
      : (cutoffs.get(subjectKey(r.subject, r.tenantId)) ?? -1) < r.cutoff,
  );
}

/** Key of a subject cut-off: the subject alone, or tenant/subject when scoped to one tenant. */
export function subjectKey(subject: string, tenantId?: string): string {
  return tenantId === undefined
    ? canonicalId(subject)
    : `${canonicalId(tenantId)}/${canonicalId(subject)}`;
}

/** Options of `createRevocationMirror`. */
export interface RevocationMirrorOptions {
  /** Clock in ms since the epoch: decides when jti entries are dropped. */
  now?: () => number;
  /**
   * The verifier's clock tolerance (CLOCK_TOLERANCE_SECONDS). The verifier accepts an `iat` up to
   * this far ahead of its clock, so an issuer running that much fast stamps a token minted before
   * a revocation with a time after it; a subject cut-off covers that far past itself, or such a
   * token would survive its revocation. The price: a fresh token for the subject works only once
   * its `iat` is past the cut-off plus the tolerance.
   */
  clockToleranceSeconds?: number;
}

/** Builds an empty mirror. */
export function createRevocationMirror(options: RevocationMirrorOptions = {}): RevocationMirror {
  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSeconds ?? 0;
  /** jti → the token's exp (seconds). */
  const jtis = new Map<string, number>();
  /** subjectKey → cut-off (seconds). */
  const cutoffs = new Map<string, number>();

  function add(r: Revocation): void {
    if (r.kind === 'jti') {
      jtis.set(r.jti, Math.max(jtis.get(r.jti) ?? 0, r.expiresAt));
    } else {
      const key = subjectKey(r.subject, r.tenantId);
      cutoffs.set(key, Math.max(cutoffs.get(key) ?? 0, r.cutoff));
    }
  }

  function dropExpired(): void {
    const nowSeconds = now() / 1000;
    for (const [jti, exp] of jtis) if (exp < nowSeconds) jtis.delete(jti);
  }

  return {
    apply(r) {
      add(r);
      dropExpired();
    },
    merge(revocations) {
      for (const r of revocations) add(r);
      dropExpired();
    },
    check(cred) {
      if (cred.jti !== undefined && jtis.has(cred.jti)) return 'jti';
      return cutOff(cutoffs, cred, tolerance) ? 'subject' : null;
    },
    size: () => ({ jtis: jtis.size, subjects: cutoffs.size }),
    entries() {
      dropExpired();
      return entriesOf(jtis, cutoffs);
    },
  };
}

/** Whether a subject cut-off (of any tenant, or of the credential's) covers the credential. */
function cutOff(
  cutoffs: ReadonlyMap<string, number>,
  cred: Parameters<RevocationMirror['check']>[0],
  tolerance: number,
): boolean {
  for (const key of [subjectKey(cred.subject), subjectKey(cred.subject, cred.tenantId)]) {
    const cutoff = cutoffs.get(key);
    // A token without iat cannot prove it was issued after the cut-off: revoked.
    if (
      cutoff !== undefined &&
      (cred.issuedAt === undefined || cred.issuedAt <= cutoff + tolerance)
    )
      return true;
  }
  return false;
}

/** The mirror's revocations, as the messages that would rebuild it. */
function entriesOf(
  jtis: ReadonlyMap<string, number>,
  cutoffs: ReadonlyMap<string, number>,
): Revocation[] {
  const out: Revocation[] = [];
  for (const [jti, expiresAt] of jtis) out.push({ kind: 'jti', jti, expiresAt });
  for (const [key, cutoff] of cutoffs) {
    const [a = '', b] = key.split('/');
    out.push(
      b === undefined
        ? { kind: 'subject', subject: a, cutoff }
        : { kind: 'subject', subject: b, tenantId: a, cutoff },
    );
  }
  return out;
}
