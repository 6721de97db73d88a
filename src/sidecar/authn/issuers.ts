/**
 * The issuers a sidecar trusts, each with its own keys, audience, token type, algorithms, claim
 * paths and the tenants it may speak for: one from JWT_ISSUER and its neighbours, or several from
 * ISSUERS_FILE. A token is looked up by its `iss` and verified only with that issuer's keys and
 * for that issuer's audience. The set can be replaced as a whole (a reloaded ISSUERS_FILE); key
 * sets of issuers whose key source did not change are kept, so a reload refetches nothing.
 */
import type { JWSAlgorithm } from 'jose';
import type { ClaimPath } from '../../common/claim-path.js';
import type { Logger } from '../../common/logger.js';
import { createKeySet, type KeySet, type KeySetStatus, type KeySource } from './key-source.js';

/** One issuer's settings, checked, before its keys are built. */
export interface IssuerSettings {
  /** Compared with the token's `iss` character for character. */
  readonly issuer: string;
  /** The token's `aud` must hold one of these. */
  readonly audiences: readonly string[];
  readonly keys: KeySource;
  /** The header `typ` required; undefined: `JWT`, `at+jwt` or none. */
  readonly typ: string | undefined;
  readonly algorithms: readonly JWSAlgorithm[];
  readonly tenantClaim: ClaimPath;
  readonly userClaim: ClaimPath;
  /** Canonical tenant ids it may speak for, or '*' for any. */
  readonly tenants: '*' | ReadonlySet<string>;
  /** The tenant claim's value → canonical tenant id; undefined: the value is the tenant id. */
  readonly tenantMap: ReadonlyMap<string, string> | undefined;
}

/** An issuer in force: its settings and its key set. */
export interface TrustedIssuer extends IssuerSettings {
  readonly keySet: KeySet;
}

/** What /status shows of one issuer. */
export interface IssuerStatus extends KeySetStatus {
  issuer: string;
  audience: readonly string[];
  typ: string | null;
  tenants: '*' | string[];
  tenant_claim: string;
  user_claim: string;
}

/** The issuers in force. */
export interface IssuerTrust {
  /** The issuer a token's `iss` names, or undefined. */
  find(iss: string): TrustedIssuer | undefined;
  /** Every issuer's keys fetched at least once (readiness); `detail` names those still missing. */
  keysReady(): { ok: boolean; detail: string };
  /** Fetches every key set now (SIGHUP). */
  refreshKeys(): Promise<void>;
  /** The first fetch of every key set; rejects on a discovery document of another issuer. */
  start(): Promise<void>;
  /** Puts `settings` in force; key sets of unchanged sources are kept, new ones start. */
  replace(settings: readonly IssuerSettings[]): Promise<void>;
  status(): IssuerStatus[];
  close(): void;
}

/** What the key sets are built with. */
export interface IssuerTrustDeps {
  now: () => number;
  logger: Logger;
  fetchImpl?: typeof fetch;
  /** Called with the issuer on every failed key fetch (the metric). */
  onFetchFailure?: (issuer: string) => void;
}

/** Builds the trust for `settings`; file and dev key sets are read now (a broken one throws). */
export async function createIssuerTrust(
  settings: readonly IssuerSettings[],
  deps: IssuerTrustDeps,
): Promise<IssuerTrust> {
  let byIssuer = new Map<string, TrustedIssuer>();
  let started = false;

  async function replace(next: readonly IssuerSettings[]): Promise<void> {
    const built = new Map<string, TrustedIssuer>();
    for (const s of next) built.set(s.issuer, await buildIssuer(s, byIssuer, deps, started));
    const kept = new Set([...built.values()].map((i) => i.keySet));
    for (const old of byIssuer.values()) if (!kept.has(old.keySet)) old.keySet.close();
    byIssuer = built;
  }

  await replace(settings);

  return {
    find: (iss) => byIssuer.get(iss),
    keysReady: () => keysReadyOf(byIssuer),
    async refreshKeys() {
      await Promise.all(
        [...new Set([...byIssuer.values()].map((i) => i.keySet))].map((k) => k.refresh()),
      );
    },
    async start() {
      started = true;
      await Promise.all([...byIssuer.values()].map((i) => i.keySet.start()));
    },
    replace,
    status: () => [...byIssuer.values()].map(statusOf),
    close() {
      for (const i of byIssuer.values()) i.keySet.close();
    },
  };
}

/**
 * One issuer in force: its key set kept from `before` when its key source did not change (a
 * reload then refetches nothing), else a new one — started at once when the trust already was.
 */
async function buildIssuer(
  s: IssuerSettings,
  before: ReadonlyMap<string, TrustedIssuer>,
  deps: IssuerTrustDeps,
  started: boolean,
): Promise<TrustedIssuer> {
  const previous = before.get(s.issuer);
  if (previous !== undefined && sameKeySource(previous.keys, s.keys)) {
    return { ...s, keySet: previous.keySet };
  }
  const keySet = await createKeySet(s.keys, {
    now: deps.now,
    logger: deps.logger,
    ...(deps.fetchImpl !== undefined && { fetchImpl: deps.fetchImpl }),
    ...(deps.onFetchFailure !== undefined && {
      onFetchFailure: () => deps.onFetchFailure?.(s.issuer),
    }),
  });
  if (started) {
    // A reload that adds an issuer: its keys arrive in the background (not ready until then).
    keySet
      .start()
      .catch((err: unknown) =>
        deps.logger.error(
          { issuer: s.issuer, err: String(err) },
          'the issuer’s keys cannot be used',
        ),
      );
  }
  return { ...s, keySet };
}

function keysReadyOf(byIssuer: ReadonlyMap<string, TrustedIssuer>): {
  ok: boolean;
  detail: string;
} {
  const missing = [...byIssuer.values()].filter((i) => !i.keySet.ready()).map((i) => i.issuer);
  if (missing.length === 0) return { ok: true, detail: `fetched for ${byIssuer.size} issuer(s)` };
  return { ok: false, detail: `not fetched yet: ${missing.join(', ')}` };
}

function statusOf(i: TrustedIssuer): IssuerStatus {
  return {
    issuer: i.issuer,
    audience: i.audiences,
    typ: i.typ ?? null,
    tenants: i.tenants === '*' ? '*' : [...i.tenants],
    tenant_claim: i.tenantClaim.spec,
    user_claim: i.userClaim.spec,
    ...i.keySet.status(),
  };
}

function sameKeySource(a: KeySource, b: KeySource): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
