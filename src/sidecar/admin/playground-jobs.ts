/**
 * The playground's long jobs — `policy diff` and `policy check` of an edited copy — each in a
 * worker thread of its own (its own Cedar), one at a time, stopped past a time limit: they may
 * decide millions of requests or explore thousands of states, which on the sidecar's own thread
 * would stall every proxied request for as long. A second job while one runs is a 503, so two
 * clicks never take both cores from the requests being served.
 */
import { Worker } from 'node:worker_threads';
import { UnavailableError } from '../../errors.js';

/** One kind of job: its worker module, what the page calls it, and its limits. */
export interface JobKind {
  /** The worker module (it answers its `workerData` with one message). */
  module: URL;
  /** What the 503s call it: `a policy diff`, `an invariants check`. */
  name: string;
  timeoutMs: number;
  /** The worker's heap (old generation) in MiB; unset: Node's default. */
  maxMemoryMb?: number;
}

/** Runs jobs one at a time; {@link close} stops the one running. */
export interface JobRunner {
  run<R>(kind: JobKind, job: unknown): Promise<R>;
  /**
   * Takes the slot before any await of the caller, so that a second click is refused at once;
   * `work` runs with the slot held (it may validate first, then call `run`).
   */
  exclusive<R>(kind: JobKind, work: () => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

export function createJobRunner(): JobRunner {
  let running: Worker | undefined;
  let busy: JobKind | undefined;
  return {
    async exclusive(kind, work) {
      if (busy !== undefined) {
        throw new UnavailableError(`${busy.name} is already running; try again`, {
          retryAfterSeconds: 2,
        });
      }
      busy = kind; // before the first await: a second click must not start a second worker
      try {
        return await work();
      } finally {
        busy = undefined;
      }
    },
    async run<R>(kind: JobKind, job: unknown): Promise<R> {
      const worker = new Worker(kind.module, {
        workerData: job,
        ...(kind.maxMemoryMb !== undefined && {
          resourceLimits: { maxOldGenerationSizeMb: kind.maxMemoryMb },
        }),
      });
      running = worker;
      try {
        return await resultOf<R>(worker, kind);
      } finally {
        running = undefined;
        await worker.terminate();
      }
    },
    async close() {
      await running?.terminate();
    },
  };
}

/** The worker's one answer; past the time limit, or a worker that fails, is a 503. */
function resultOf<R>(worker: Worker, kind: JobKind): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new UnavailableError(`${kind.name} took longer than ${kind.timeoutMs} ms`));
    }, kind.timeoutMs);
    worker.once('message', (result: R) => {
      clearTimeout(timer);
      resolve(result);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      // Out of memory, most often: the page is told, the sidecar goes on.
      reject(new UnavailableError(`${kind.name} failed: ${err.message}`, { cause: err }));
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new UnavailableError(`${kind.name} stopped (exit ${code})`));
    });
  });
}
