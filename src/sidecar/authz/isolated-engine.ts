/**
 * Runs one policy job in an isolated engine (engine-worker.ts): a worker thread with its own
 * Cedar instance, a memory limit and a time limit, thrown away after the job. Used for every
 * policy text the live instance must not meet while it serves: sets loading for the live store
 * and the candidate (so 4,000 policies validate off the event loop), and the playground's edits.
 */
import { Worker } from 'node:worker_threads';
import type { PolicySources } from '../../policy/policy-files.js';
import { PolicyLoadError } from '../../policy/policy-set.js';
import {
  PERSISTENT,
  type EngineJob,
  type EngineMessage,
  type EngineReply,
  type EngineResult,
  type LoadedForStore,
} from './engine-worker.js';

export type { Canary, EngineJob, EngineResult, LoadedForStore } from './engine-worker.js';

/** The limits of one isolated job. */
export interface IsolationLimits {
  /** Past this the worker is terminated and the job fails. */
  timeoutMs: number;
  /** The worker's heap (old generation) in MiB. */
  maxMemoryMb: number;
}

/** What a set loaded for the live store or the candidate may take (documented in the contract). */
export const LOAD_LIMITS: IsolationLimits = { timeoutMs: 120_000, maxMemoryMb: 1024 };

/** Why an isolated job gave no answer: it ran out of time, memory, or the engine failed. */
export class IsolatedEngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IsolatedEngineError';
  }
}

/** Runs `job` in a fresh worker; rejects with {@link IsolatedEngineError} past the limits. */
export function runIsolated(job: EngineJob, limits: IsolationLimits): Promise<EngineResult> {
  const worker = new Worker(new URL('./engine-worker.js', import.meta.url), {
    workerData: job,
    resourceLimits: { maxOldGenerationSizeMb: limits.maxMemoryMb },
  });
  return new Promise<EngineResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new IsolatedEngineError(
          `the policy engine took longer than ${limits.timeoutMs} ms on this policy text`,
        ),
      );
    }, limits.timeoutMs);
    worker.once('message', (result: EngineResult) => {
      clearTimeout(timer);
      resolve(result);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new IsolatedEngineError(`the policy engine failed on this policy text: ${err.message}`, {
          cause: err,
        }),
      );
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new IsolatedEngineError(`the policy engine stopped (exit ${code})`));
    });
  }).finally(() => void worker.terminate());
}

/** A long-lived isolated engine: one worker, one job at a time, replaced after a failure. */
export interface EngineWorker {
  run(job: EngineJob): Promise<EngineResult>;
  close(): Promise<void>;
}

/**
 * An isolated engine that stays up between jobs, for the operator's own policy directories (the
 * live store, the candidate): a reload then costs no worker start nor wasm compile. A job that
 * runs past the time limit, or a worker that dies, takes the worker with it; the next job starts
 * a fresh one. Idle, the worker keeps no process alive, and after `idleMs` it is ended (its
 * Cedar instance holds the memory of the last set it parsed).
 */
export function createEngineWorker(limits: IsolationLimits, idleMs = 60_000): EngineWorker {
  const slot = createWorkerSlot(limits, idleMs);
  let nextId = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const runOne = async (job: EngineJob): Promise<EngineResult> => {
    const w = slot.take();
    const outcome = await exchange(w, { id: ++nextId, job }, limits.timeoutMs);
    if (outcome.workerLost) slot.discard(w);
    else slot.putBack(w);
    if (outcome.ok) return outcome.result;
    throw outcome.error;
  };
  return {
    run(job) {
      const run = chain.then(() => runOne(job));
      chain = run.catch(() => undefined);
      return run;
    },
    close: () => slot.close(),
  };
}

/** The one worker of an {@link EngineWorker}: started on demand, ended when idle or broken. */
interface WorkerSlot {
  /** The worker (a new one if there is none), held: a job in flight keeps the process up. */
  take(): Worker;
  /** Done with a job: the worker no longer holds the process, and is ended after `idleMs`. */
  putBack(w: Worker): void;
  /** A worker that timed out or failed: ended now; the next job starts a fresh one. */
  discard(w: Worker): void;
  close(): Promise<void>;
}

function createWorkerSlot(limits: IsolationLimits, idleMs: number): WorkerSlot {
  let worker: Worker | undefined;
  let idle: NodeJS.Timeout | undefined;
  const forget = (w: Worker): void => {
    if (worker === w) worker = undefined;
  };
  const start = (): Worker => {
    const w = new Worker(new URL('./engine-worker.js', import.meta.url), {
      workerData: PERSISTENT,
      resourceLimits: { maxOldGenerationSizeMb: limits.maxMemoryMb },
    });
    w.unref();
    w.once('exit', () => forget(w));
    return w;
  };
  const discard = (w: Worker): void => {
    forget(w);
    w.unref();
    void w.terminate();
  };
  return {
    take() {
      clearTimeout(idle);
      const w = (worker ??= start());
      w.ref();
      return w;
    },
    putBack(w) {
      w.unref();
      idle = setTimeout(() => discard(w), idleMs);
      idle.unref();
    },
    discard,
    async close() {
      clearTimeout(idle);
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

/** How one job went: its result, or why not and whether the worker went with it. */
type Exchange =
  | { ok: true; result: EngineResult; workerLost: false }
  | { ok: false; error: IsolatedEngineError; workerLost: boolean };

/** Sends `message` to the worker and waits for its reply, its failure, or the time limit. */
function exchange(w: Worker, message: EngineMessage, timeoutMs: number): Promise<Exchange> {
  return new Promise<Exchange>((resolve) => {
    const settle = (outcome: Exchange): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
      resolve(outcome);
    };
    const lost = (text: string, cause?: unknown): void =>
      settle({ ok: false, error: new IsolatedEngineError(text, { cause }), workerLost: true });
    const timer = setTimeout(
      () => lost(`the policy engine took longer than ${timeoutMs} ms on this policy set`),
      timeoutMs,
    );
    const onMessage = (reply: EngineReply): void => {
      if (reply.id !== message.id) return;
      if ('error' in reply) {
        const error = new IsolatedEngineError(`the policy engine failed: ${reply.error}`);
        settle({ ok: false, error, workerLost: false });
      } else settle({ ok: true, result: reply.result, workerLost: false });
    };
    const onError = (err: Error): void => lost(`the policy engine failed: ${err.message}`, err);
    const onExit = (code: number): void => lost(`the policy engine stopped (exit ${code})`);
    w.on('message', onMessage);
    w.once('error', onError);
    w.once('exit', onExit);
    w.postMessage(message);
  });
}

/**
 * Parses and validates sets in an isolated engine that stays up between reloads; each call
 * throws {@link PolicyLoadError} for a set that does not load.
 */
export function createIsolatedLoader(): {
  load: (dir: string, sources: PolicySources) => Promise<LoadedForStore>;
  close: () => Promise<void>;
} {
  const engine = createEngineWorker(LOAD_LIMITS);
  return {
    async load(dir, sources) {
      let result;
      try {
        result = await engine.run({ kind: 'load', dir, sources });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new PolicyLoadError([{ file: dir, line: 1, column: 1, message }]);
      }
      if (!result.ok) throw new PolicyLoadError(result.problems);
      if (result.kind !== 'load') throw new Error(`the isolated engine answered ${result.kind}`);
      return result.loaded;
    },
    close: () => engine.close(),
  };
}
