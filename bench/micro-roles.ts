/**
 * The decision on its own at 3, 12 and 20 roles, by each engine side by side (issue 25 item 4):
 * cedar-wasm, and the compiled decider when this build has one. Every call is uncached (a store
 * without a decision cache) and is an owner's role PUT whose current and requested role sets
 * are drawn over the schema's roles, so every role is an entity reference Cedar must convert.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWideRolePolicies } from '../test/helpers/wide-roles.js';
import { createLogger } from '../src/common/logger.js';
import { buildUpdateContext } from '../src/policy/context.js';
import type { AuthzRequest } from '../src/policy/types.js';
import {
  createPolicyStore,
  type CompileDecider,
  type PolicyStore,
} from '../src/sidecar/authz/policy-store.js';
import { createRandom, DOZEN_ROLES, writeDozenRolePolicies } from './dozen-roles.js';
import { timeSync, type MicroResult } from './micro-timer.js';
import { repoRoot } from './processes.js';

/** The role counts measured. */
export const ROLE_COUNTS = [3, 12, 20] as const;

/** Options of {@link benchDecisionsByRoles}. */
export interface RolesMicroOptions {
  /** Timed calls per engine and role count. */
  decisions: number;
  /** The compiled decider (src/policy/compiled/); undefined: only cedar-wasm is measured. */
  compileDecider: CompileDecider | undefined;
  log: (line: string) => void;
}

/** One row per engine and role count: "decision, uncached, wasm, 12 roles", ... */
export async function benchDecisionsByRoles(options: RolesMicroOptions): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const count of ROLE_COUNTS) {
    const dir = policyDirWith(count);
    try {
      const requests = roleUpdates(dir.roles, options.decisions + warmupOf(options.decisions));
      // The store compiles by default: the wasm row must refuse the compiler to measure Cedar.
      const engines: [string, CompileDecider | undefined][] = [
        ['wasm', () => ({ unsupported: 'the benchmark asked for cedar-wasm' })],
        ['compiled', options.compileDecider],
      ];
      for (const [engine, compileDecider] of engines) {
        const store = await openUncached(dir.path, compileDecider);
        try {
          const engineNow = store.status().decider.engine;
          options.log(`micro: ${options.decisions} uncached decisions, ${engine}, ${count} roles`);
          out.push(
            timeSync(
              `decision, uncached, ${engineNow}, ${count} roles`,
              requests,
              warmupOf(options.decisions),
              (r) => store.decide(r),
            ),
          );
        } finally {
          store.close();
        }
      }
    } finally {
      dir.remove();
    }
  }
  return out;
}

function policyDirWith(count: number): { path: string; roles: string[]; remove: () => void } {
  if (count === 3)
    return { path: join(repoRoot, 'policies'), roles: ['admin', 'user', 'viewer'], remove() {} };
  if (count === 12) {
    const path = mkdtempSync(join(tmpdir(), 'cedargate-micro-12-'));
    writeDozenRolePolicies(path);
    return { path, roles: [...DOZEN_ROLES], remove: () => rmSync(path, { recursive: true }) };
  }
  return writeWideRolePolicies(count);
}

function openUncached(
  dir: string,
  compileDecider: CompileDecider | undefined,
): Promise<PolicyStore> {
  return createPolicyStore({
    dir,
    logger: createLogger('silent'),
    watch: false,
    pollMs: 0,
    decisionCacheMax: 0,
    canaryEveryMs: 0,
    crosscheckRate: 0,
    ...(compileDecider !== undefined && { compileDecider }),
  });
}

/** An owner setting a random subset of the roles on a user holding another random subset. */
function roleUpdates(roles: readonly string[], n: number): AuthzRequest[] {
  const random = createRandom(25);
  const subset = (): string[] => roles.filter((r) => r !== 'admin' && random() < 0.5);
  const tenantId = randomUUID().toUpperCase();
  const owner = { id: randomUUID().toUpperCase(), tenantId, roles: ['admin'], isOwner: true };
  return Array.from({ length: n }, () => {
    const current = { name: 'Target', roles: subset(), avatar_digest: null };
    const id = randomUUID().toUpperCase();
    return {
      principal: owner,
      action: 'users:update',
      resource: { type: 'User', id, tenantId, roles: current.roles, isOwner: false },
      context: buildUpdateContext(current, { roles: subset() }),
    };
  });
}

/** Untimed calls before the timed ones: 500, or as many as timed when fewer. */
const warmupOf = (decisions: number): number => Math.min(500, decisions);
