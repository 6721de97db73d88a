/**
 * Who decides for one live policy set: a compiled decider (plain closures over the project's
 * fact types, src/policy/compiled/) when the set compiles, else cedar-wasm as before — and
 * cedar-wasm stays the judge. A sample of the compiled decisions (DECISION_CROSSCHECK_RATE) is
 * decided again by cedar-wasm after the answer has gone, on a later turn of the event loop; one
 * disagreement logs both answers, is counted, and turns the compiled path off for this set for
 * good (cedar-wasm decides from then on; the caches holding compiled answers are dropped), which
 * /status shows with the reason. A new set (a reload) is compiled and judged afresh.
 *
 * The set is compiled as every tool compiles one, by policy-set.ts's `compileLoadedSet`, handed
 * the set the store preparsed (the judge) and the ESTs its isolated loader read.
 */
import type { Logger } from '../../common/logger.js';
import type { CompiledPolicySet } from '../../policy/cedar-adapter.js';
import type { CompileDecider } from '../../policy/compiled/loaded.js';
import type { PolicyEst } from '../../policy/est.js';
import { compileLoadedSet } from '../../policy/policy-set.js';
import type { LoadedPolicySet } from '../../policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../policy/types.js';

export type { CompileDecider } from '../../policy/compiled/loaded.js';

/** A decision without the cache's flag: what an engine answers. */
export type EngineDecision = Omit<Decision, 'cached'>;

/** A set compiled to plain JavaScript. */
export interface CompiledDecider {
  decide(request: AuthzRequest): EngineDecision;
}

/** The store's cross-check counts, over every set it served (the metrics read them). */
export interface CrosscheckCounts {
  checked: number;
  disagreements: number;
}

/** What /status shows of the decider of the live set. */
export interface DeciderStatus {
  engine: 'compiled' | 'wasm';
  /** Why cedar-wasm decides (the construct the compiler refused, a disagreement); null if not. */
  reason: string | null;
  /** DECISION_CROSSCHECK_RATE, and this set's cross-checks so far. */
  crosscheck: { rate: number; checked: number; disagreements: number };
}

/** The decider of one live set. */
export interface LiveDecider {
  /** Never throws (both engines deny on anything odd). */
  authorize(request: AuthzRequest): EngineDecision;
  status(): DeciderStatus;
}

/** Options of {@link createLiveDecider}. */
export interface DeciderOptions {
  set: LoadedPolicySet;
  /** The live slot `wasm` is preparsed in. */
  slot: string;
  wasm: CompiledPolicySet;
  /** Compiles the set to plain JavaScript (default: compileLoadedSet's, compileLoadedDecider). */
  compile?: CompileDecider;
  /** The set's typed ESTs when read off the event loop (the isolated loader); else compiled here. */
  trees?: Readonly<Record<string, PolicyEst>>;
  /** 0..1: the share of compiled decisions cedar-wasm decides again. */
  rate: number;
  logger: Logger;
  counts: CrosscheckCounts;
  /** Called once when a disagreement turns the compiled path off (the store drops its caches). */
  onFallback: () => void;
  random?: () => number;
}

/** Cross-checks waiting for a later turn; past this, a sampled decision is not checked. */
const MAX_PENDING = 1_000;

/** Builds the decider of `options.set`, logging once which engine decides it and why. */
export function createLiveDecider(options: DeciderOptions): LiveDecider {
  const { set, wasm, logger } = options;
  const compiled = compileLoadedSet(options.slot, set, {
    wasm,
    ...(options.compile !== undefined && { compiler: options.compile }),
    ...(options.trees !== undefined && { trees: options.trees }),
  });
  // reason is null exactly when the compiled decider decides (compileLoadedSet).
  const { reason } = compiled;
  if (reason !== null) {
    logger.info(
      { version: set.version, decider: 'wasm', reason },
      `decisions by cedar-wasm: ${reason}`,
    );
    return wasmOnly(wasm, reason, options.rate);
  }
  logger.info({ version: set.version, decider: 'compiled' }, 'decisions by the compiled decider');
  return judged(options, { decide: (request) => compiled.authorize(request) });
}

function wasmOnly(wasm: CompiledPolicySet, reason: string, rate: number): LiveDecider {
  const status: DeciderStatus = {
    engine: 'wasm',
    reason,
    crosscheck: { rate, checked: 0, disagreements: 0 },
  };
  return {
    authorize: (request) => wasm.authorize(request),
    status: () => ({ ...status, crosscheck: { ...status.crosscheck } }),
  };
}

/** The compiled decider, with a sample of its answers judged by cedar-wasm off the request path. */
function judged(options: DeciderOptions, compiled: CompiledDecider): LiveDecider {
  const { wasm, rate, counts } = options;
  const random = options.random ?? Math.random;
  const own = { checked: 0, disagreements: 0 };
  let fallback: string | null = null;
  let pending: { request: AuthzRequest; answer: EngineDecision }[] = [];

  const drain = (): void => {
    const batch = pending;
    pending = [];
    for (const { request, answer } of batch) {
      if (fallback !== null) return;
      const judge = wasm.authorize(request);
      own.checked++;
      counts.checked++;
      if (sameDecision(answer, judge)) continue;
      own.disagreements++;
      counts.disagreements++;
      fallback = disagreement(options, request, answer, judge);
      options.onFallback();
    }
  };

  return {
    authorize(request) {
      if (fallback !== null) return wasm.authorize(request);
      const answer = compiled.decide(request);
      if (rate > 0 && pending.length < MAX_PENDING && random() < rate) {
        if (pending.length === 0) setImmediate(drain);
        pending.push({ request, answer });
      }
      return answer;
    },
    status: () => ({
      engine: fallback === null ? 'compiled' : 'wasm',
      reason: fallback,
      crosscheck: { rate, ...own },
    }),
  };
}

/** Logs a disagreement (an error line with both answers); returns the reason /status shows. */
function disagreement(
  options: DeciderOptions,
  request: AuthzRequest,
  compiled: EngineDecision,
  wasm: EngineDecision,
): string {
  const summary = (d: EngineDecision): string =>
    `${d.allowed ? 'allow' : 'deny'} by [${d.policies.join(', ')}]${d.errors.length > 0 ? ` errors [${d.errors.join('; ')}]` : ''}`;
  const reason = `cross-check disagreement on ${request.action}: compiled ${summary(compiled)}, cedar-wasm ${summary(wasm)}`;
  options.logger.error(
    {
      version: options.set.version,
      action: request.action,
      principal: request.principal.id,
      resource: request.resource.id,
      compiled,
      wasm,
    },
    `${reason}; cedar-wasm decides this policy set from now on`,
  );
  return reason;
}

/** Same decision, determining policies and errors (as sets: both list them in a fixed order). */
function sameDecision(a: EngineDecision, b: EngineDecision): boolean {
  return (
    a.allowed === b.allowed &&
    sameMembers(a.policies, b.policies) &&
    sameMembers(a.errors, b.errors) &&
    sameMembers(a.ignoredRoles ?? [], b.ignoredRoles ?? [])
  );
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort();
  return [...a].sort().every((x, i) => x === sortedB[i]);
}
