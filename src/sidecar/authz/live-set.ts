/**
 * What serving one policy set needs, built once when it goes live: the set compiled into a slot
 * of the live Cedar instance, the keys its decisions are cached under, its canaries and the
 * snapshot /status shows.
 */
import type { Logger } from '../../common/logger.js';
import type { CompiledPolicySet, compilePolicySetInTurns } from '../../policy/cedar-adapter.js';
import { formatProblem } from '../../policy/policy-set.js';
import type { LoadedPolicySet, PolicyInfo } from '../../policy/policy-set.js';
import { createRequestAbstraction } from '../../policy/request-abstraction.js';
import { actionsReadingTarget } from '../../policy/target-reads.js';
import type { UsersAction } from '../../policy/types.js';
import { decisionKeysFor, type DecisionKeys } from './decision-cache.js';
import {
  createLiveDecider,
  type CompileDecider,
  type CrosscheckCounts,
  type LiveDecider,
} from './decider.js';
import type { Canary, LoadedForStore } from './isolated-engine.js';

/** What is live now. */
export interface PolicySnapshot {
  /** Content hash of the schema and the policy files. */
  version: string;
  loadedAt: Date;
  /** Sorted. */
  policyIds: string[];
  /** The schema's Role enum. */
  roles: readonly string[];
  /** Policy files, relative to the policy directory. */
  files: string[];
  /** Where each policy lives and its notice (for explain and /status). */
  policies: readonly PolicyInfo[];
  /**
   * The actions on a user whose policies may read the target's facts beyond its id and tenant
   * (target-reads.ts): the sidecar looks the target up before deciding only these. Absent (a
   * store's fake): every action reads it.
   */
  targetReads?: readonly UsersAction[];
}

/** One set made ready to serve. */
export interface Live {
  set: LoadedPolicySet;
  /** The set preparsed in cedar-wasm: the canaries' engine, and the decider's judge. */
  compiled: CompiledPolicySet;
  /** Who decides the set's requests (decider.ts): compiled, or cedar-wasm. */
  decider: LiveDecider;
  /** Built with the set, not per request: the abstraction collects the set's literals. */
  keys: DecisionKeys;
  snapshot: PolicySnapshot;
  slot: string;
  canaries: Canary[];
}

/** What activating a set needs from its store, the same for every set it serves. */
export interface Activation {
  logger: Logger;
  now: () => Date;
  /** Preparses a set into a slot of the live cedar-wasm instance. */
  compile: typeof compilePolicySetInTurns;
  /** Compiles a set to plain JavaScript (compileLoadedSet's `compiler`; undefined: its default). */
  compileDecider?: CompileDecider;
  crosscheckRate: number;
  counts: CrosscheckCounts;
  /** A set's compiled path was turned off: the decisions it cached must go. */
  onFallback: () => void;
  random?: () => number;
}

/** Builds what serving `set` needs: the compiled set in `slot`, its decision keys, its snapshot. */
export async function activate(
  activation: Activation,
  loaded: LoadedForStore,
  slot: string,
): Promise<Live> {
  const { logger, now, compile } = activation;
  const { set } = loaded;
  const meta = Object.fromEntries(
    set.policies.map((p) => [p.id, { effect: p.effect, notice: p.notice }]),
  );
  const abstraction = createRequestAbstraction(set, undefined, loaded.literals);
  if (abstraction.refusal !== null) {
    logger.warn(
      { version: set.version, reason: abstraction.refusal },
      `decisions are cached per concrete request only: ${abstraction.refusal}`,
    );
  }
  const compiled = await compile(slot, set.schema, set.texts, meta, {
    callShape: loaded.callShape,
  });
  logger.debug(
    {
      version: set.version,
      tenantEntities: compiled.callShape?.tenantEntities,
      reason: compiled.callShape?.tenantReason,
    },
    'cedar call shape',
  );
  return {
    set,
    slot,
    canaries: loaded.canaries,
    compiled,
    decider: createLiveDecider({
      set,
      slot,
      wasm: compiled,
      ...(activation.compileDecider !== undefined && { compile: activation.compileDecider }),
      ...(loaded.trees !== undefined && { trees: loaded.trees }),
      rate: activation.crosscheckRate,
      logger,
      counts: activation.counts,
      onFallback: activation.onFallback,
      ...(activation.random !== undefined && { random: activation.random }),
    }),
    keys: decisionKeysFor(set.version, abstraction),
    snapshot: {
      version: set.version,
      loadedAt: now(),
      policyIds: set.policies.map((p) => p.id),
      roles: set.schema.roles,
      files: set.files,
      policies: set.policies,
      targetReads: actionsReadingTarget(loaded.trees),
    },
  };
}

/** Logs the set's validation warnings, one line each. */
export function logWarnings(logger: Logger, set: LoadedPolicySet): void {
  for (const w of set.warnings)
    logger.warn({ warning: formatProblem(w) }, 'policy validation warning');
}
