/**
 * In-process micro-benchmarks of the two per-request checks, with nothing else around them:
 * the decision (`PolicyStore.decide`: decision-cache key, entities and Cedar) uncached and
 * cached (each call on another user of one class of the request abstraction), and credential
 * checking (`CredentialVerifier.verify`) cold (every token new: jose ES256) and warm (the
 * verified-credential cache). Each call is timed on its own, so the
 * percentiles are per call.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/common/logger.js';
import { devJwksPath, ensureDevKeys } from '../src/sidecar/authn/dev-keys.js';
import { issueDevToken } from '../src/sidecar/authn/issue-token.js';
import { createCredentialVerifier } from '../src/sidecar/authn/verifier.js';
import { buildUpdateContext } from '../src/policy/context.js';
import { createPolicyStore } from '../src/sidecar/authz/policy-store.js';
import type { AuthzRequest } from '../src/policy/types.js';
import { timeAsync, timeSync, type MicroResult } from './micro-timer.js';
import { benchDecisionsByRoles } from './micro-roles.js';
import type { CompileDecider } from '../src/sidecar/authz/policy-store.js';

export type { MicroResult } from './micro-timer.js';

/** Options of {@link runMicroBenchmarks}. */
export interface MicroOptions {
  policyDir: string;
  /** Calls per decision benchmark (default 20,000). */
  decisions: number;
  /** Distinct tokens for the cold verifier (default 2,000); the warm one makes 10× as many calls. */
  tokens: number;
  log: (line: string) => void;
  /**
   * The compiled decider (src/policy/compiled/), measured beside cedar-wasm at 3, 12 and 20
   * roles (micro-roles.ts); undefined: those rows measure cedar-wasm only.
   */
  compileDecider?: CompileDecider;
}

/** Runs every micro-benchmark and returns their results in table order. */
export async function runMicroBenchmarks(options: MicroOptions): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  out.push(...(await benchDecisions(options)));
  out.push(
    ...(await benchDecisionsByRoles({
      decisions: options.decisions,
      compileDecider: options.compileDecider,
      log: options.log,
    })),
  );
  out.push(...(await benchCredentials(options)));
  return out;
}

async function benchDecisions(options: MicroOptions): Promise<MicroResult[]> {
  const open = (decisionCacheMax?: number) =>
    createPolicyStore({
      dir: options.policyDir,
      logger: createLogger('silent'),
      watch: false,
      pollMs: 0,
      ...(decisionCacheMax === undefined ? {} : { decisionCacheMax }),
    });
  const store = await open();
  // Distinct target ids share one decision now (the request abstraction): the uncached run
  // needs a store without a cache to reach Cedar on every call.
  const uncachedStore = await open(0);
  try {
    const tenantId = randomUUID().toUpperCase();
    const owner = { id: randomUUID().toUpperCase(), tenantId, roles: ['admin'], isOwner: true };
    // An owner changing a user's roles: the most context a decision reads.
    const requestFor = (targetId: string): AuthzRequest => {
      const current = { name: 'Target', roles: ['user'], avatar_digest: null };
      return {
        principal: owner,
        action: 'users:update',
        resource: { type: 'User', id: targetId, tenantId, roles: current.roles, isOwner: false },
        context: buildUpdateContext(current, { roles: ['user', 'viewer'] }),
      };
    };
    const n = options.decisions;
    const distinct = Array.from({ length: n + 2000 }, () => requestFor(randomUUID().toUpperCase()));
    options.log(`micro: ${n} uncached decisions`);
    const uncached = timeSync('decision, uncached (key + entities + Cedar)', distinct, 2000, (r) =>
      uncachedStore.decide(r),
    );
    // The role-PUT case: every target another user with the same facts, one shared decision.
    options.log(`micro: ${n} cached decisions`);
    const cached = timeSync(
      'decision, cached (abstraction key + LRU hit; every target another user)',
      distinct,
      2000,
      (r) => store.decide(r),
    );
    return [uncached, cached];
  } finally {
    store.close();
    uncachedStore.close();
  }
}

async function benchCredentials(options: MicroOptions): Promise<MicroResult[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cedargate-micro-'));
  try {
    await ensureDevKeys(dataDir);
    const claims = { issuer: 'cedargate-dev', audience: 'cedargate', tenantClaim: 'tenant_id' };
    const tenant = randomUUID();
    options.log(`micro: signing ${options.tokens} tokens`);
    const tokens: string[] = [];
    for (let i = 0; i < options.tokens; i += 200) {
      const batch = Math.min(200, options.tokens - i);
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: batch }, () =>
            issueDevToken(dataDir, { ...claims, tenant, sub: randomUUID(), ttlSeconds: 3600 }),
          ),
        )),
      );
    }
    const verifier = await createCredentialVerifier({
      keys: { kind: 'file', path: devJwksPath(dataDir) },
      ...claims,
      clockToleranceSeconds: 30,
      logger: createLogger('silent'),
      cacheMax: options.tokens + 1,
    });
    const headers = tokens.map((t) => `Bearer ${t}`);
    options.log(`micro: ${headers.length} cold and ${headers.length * 10} warm credential checks`);
    // Warm up jose and the key import on a token the cold run will not see.
    const spare = await issueDevToken(dataDir, {
      ...claims,
      tenant,
      sub: randomUUID(),
      ttlSeconds: 3600,
    });
    for (let i = 0; i < 200; i++) await verifier.verify(`Bearer ${spare}`);
    const cold = await timeAsync(
      'credential, cold (jose ES256 verify)',
      headers,
      (h) => verifier.verify(h),
      'verified',
    );
    const warmInputs = Array.from(
      { length: headers.length * 10 },
      (_, i) => headers[i % headers.length] as string,
    );
    const warm = await timeAsync(
      'credential, warm (verified-credential cache)',
      warmInputs,
      (h) => verifier.verify(h),
      'verified',
    );
    const stats = verifier.stats();
    cold.outcome = `verified; cache ${stats.cacheHits} hits / ${stats.cacheMisses} misses overall`;
    warm.outcome = cold.outcome;
    return [cold, warm];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
