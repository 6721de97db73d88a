/**
 * An isolated policy engine: a worker thread with its own Cedar wasm instance (isolated-engine.ts
 * starts it, with limits on memory and time, and throws it away after one job). Whatever the
 * text does to Cedar here — trap, overflow, run long — the instance that decides live requests
 * never sees it, and the event loop that serves them never waits on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { callShapeFor, compilePolicySet, policyTreesOf } from '../../policy/cedar-adapter.js';
import type { CallShape } from '../../policy/call-shape.js';
import type { PolicyEst } from '../../policy/est.js';
import { enumerateRequests, planEnumeration } from '../../policy/authoring/enumerate.js';
import { clauseTracerOf } from '../../policy/authoring/clauses.js';
import { explainDecision, type Explanation } from '../../policy/authoring/explain.js';
import type { PolicySources } from '../../policy/policy-files.js';
import {
  buildPolicySet,
  compileLoadedSet,
  PolicyLoadError,
  type LoadedPolicySet,
  type PolicyProblem,
} from '../../policy/policy-set.js';
import { collectLiterals, type PolicyLiterals } from '../../policy/request-abstraction.js';
import type { AuthzRequest } from '../../policy/types.js';

/** A request with the answer the set must give it: the engine decides iff it gives that answer. */
export interface Canary {
  request: AuthzRequest;
  allowed: boolean;
  policies: string[];
}

/** What an isolated engine is asked. `dir` names files in problems and locations. */
export type EngineJob =
  | { kind: 'load'; dir: string; sources: PolicySources }
  | { kind: 'validate'; dir: string; sources: PolicySources }
  | { kind: 'decide'; dir: string; sources: PolicySources; request: AuthzRequest };

/** A set built for the live store: everything the main thread would otherwise ask Cedar. */
export interface LoadedForStore {
  set: LoadedPolicySet;
  callShape: CallShape;
  literals: PolicyLiterals;
  /** One allowed and one denied request of the set, where the enumeration finds them. */
  canaries: Canary[];
  /**
   * Each policy's typed EST, read here so that the compiled decider's parse (one Cedar call a
   * policy) is off the event loop too; absent when Cedar cannot give one (the compiler says why).
   */
  trees?: Record<string, PolicyEst>;
}

export type EngineResult =
  | { ok: false; problems: PolicyProblem[] }
  | { ok: true; kind: 'load'; loaded: LoadedForStore }
  | { ok: true; kind: 'validate'; warnings: PolicyProblem[] }
  | {
      ok: true;
      kind: 'decide';
      explanation: Explanation;
      /** Which engine decided: the compiled decider, or cedar-wasm and why. */
      decider: { engine: 'compiled' | 'wasm'; reason: string | null };
    };

/** Decisions the canary search may spend (the shipped set finds both in its first few). */
const CANARY_BUDGET = 300;

/** Runs one job in this thread's Cedar. */
export function runEngineJob(job: EngineJob): EngineResult {
  let set: LoadedPolicySet;
  try {
    set = buildPolicySet(job.dir, job.sources);
  } catch (err) {
    if (err instanceof PolicyLoadError) return { ok: false, problems: err.problems };
    throw err;
  }
  switch (job.kind) {
    case 'validate':
      return { ok: true, kind: 'validate', warnings: set.warnings };
    case 'decide': {
      // Decided as the sidecar decides: by the compiled decider when the edited copy compiles.
      const decider = compileLoadedSet('isolated', set);
      const decision = { ...decider.authorize(job.request), cached: false };
      // A default deny is traced too: which permit was meant to hold, and what stopped it.
      const defaultDeny = !decision.allowed && decision.policies.length === 0;
      const tracer = defaultDeny ? clauseTracerOf(job.dir, set) : undefined;
      const explanation = explainDecision(job.dir, set, job.request, decision, tracer);
      const engine = { engine: decider.decider, reason: decider.reason };
      return { ok: true, kind: 'decide', explanation, decider: engine };
    }
    case 'load': {
      const literals = collectLiterals(set);
      const callShape = callShapeFor(set.schema, set.texts);
      const canaries = canariesOf(set, literals, callShape);
      const loaded: LoadedForStore = { set, callShape, literals, canaries };
      try {
        loaded.trees = policyTreesOf(set.texts);
      } catch {
        // The compiler, run without them, reads the trees itself and says what it refuses.
      }
      return { ok: true, kind: 'load', loaded };
    }
  }
}

/** cedar-wasm's own answers (the canaries check the live wasm instance against them). */
function compiledOf(set: LoadedPolicySet, callShape?: CallShape) {
  const meta = Object.fromEntries(
    set.policies.map((p) => [p.id, { effect: p.effect, notice: p.notice }]),
  );
  const options = callShape === undefined ? {} : { callShape };
  return compilePolicySet('isolated', set.schema, set.texts, meta, options);
}

/** The first allowed and the first denied request of the enumeration, with their answers. */
function canariesOf(
  set: LoadedPolicySet,
  literals: PolicyLiterals,
  callShape: CallShape,
): Canary[] {
  const compiled = compiledOf(set, callShape);
  let allow: Canary | undefined;
  let deny: Canary | undefined;
  let spent = 0;
  for (const { request } of enumerateRequests(planEnumeration([set], literals))) {
    if (++spent > CANARY_BUDGET || (allow !== undefined && deny !== undefined)) break;
    const d = compiled.authorize(request);
    if (d.errors.length > 0) continue;
    const canary = { request, allowed: d.allowed, policies: [...d.policies] };
    if (d.allowed) allow ??= canary;
    else deny ??= canary;
  }
  return [allow, deny].filter((c): c is Canary => c !== undefined);
}

/** A job sent to a long-lived engine (`workerData` is {@link PERSISTENT}), and its answer. */
export interface EngineMessage {
  id: number;
  job: EngineJob;
}
export type EngineReply = { id: number; result: EngineResult } | { id: number; error: string };

/** The `workerData` of an engine that takes job after job by message. */
export const PERSISTENT = 'persistent';

const port = parentPort;
if (port !== null && workerData === PERSISTENT) {
  port.on('message', ({ id, job }: EngineMessage) => {
    let reply: EngineReply;
    try {
      reply = { id, result: runEngineJob(job) };
    } catch (err) {
      reply = { id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply);
  });
} else if (port !== null && workerData !== null && workerData !== undefined) {
  port.postMessage(runEngineJob(workerData as EngineJob));
}
