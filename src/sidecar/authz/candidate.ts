/**
 * A candidate policy set in shadow (CANDIDATE_POLICY_DIR): loaded, validated and hot-reloaded by
 * a policy store of its own, it decides every request again after the enforced set has answered
 * it, and reports where the two disagree. It never answers anything: `observe` only queues, the
 * queue is drained on a later turn of the event loop, and past its bound a request is dropped and
 * counted rather than queued — a slow or broken candidate costs the requests nothing.
 */
import type { Logger } from '../../common/logger.js';
import type { AuthzRequest, Decision } from '../../policy/types.js';
import {
  createPolicyStore,
  PolicyLoadError,
  type PolicyProblem,
  type PolicyStatus,
  type PolicyStore,
  type PolicyStoreOptions,
} from './policy-store.js';

/** How a request's two answers compared (the `agreement` label of the metric). */
export type Agreement = 'agree' | 'disagree' | 'dropped' | 'unloaded';

/** One request the enforced set decided, as the candidate gets it. */
export interface Decided {
  requestId: string;
  request: AuthzRequest;
  decision: Decision;
  /** The enforced set's version. */
  policyVersion: string;
}

/** What /status shows of the candidate. */
export interface CandidateStatus {
  dir: string;
  /** The candidate's store (version, last reload, reload counts); null while it never loaded. */
  policies: PolicyStatus | null;
  /** Why the candidate has not loaded yet (it is retried every poll period); null once it has. */
  loadProblems: PolicyProblem[] | null;
  decisions: Record<Agreement, number>;
  /** Requests waiting for the candidate now. */
  pending: number;
}

export interface CandidateShadow {
  /** Queues a decided request for the candidate; returns at once, never throws. */
  observe(decided: Decided): void;
  status(): CandidateStatus;
  /** Resolves when every request queued so far has been decided (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

export interface CandidateOptions {
  dir: string;
  logger: Logger;
  /** The candidate store's content-hash poll, and the retry period while it does not load. */
  pollMs: number;
  watch?: boolean;
  /** Requests queued at most; past it they are dropped and counted (default 1000). */
  maxPending?: number;
  /** Requests decided per turn of the event loop (default 64). */
  batch?: number;
  onCount?: (agreement: Agreement) => void;
  /** Told of each decision the candidate made (counted with `source="candidate"`). */
  onDecision?: (action: string, decision: Decision) => void;
  /** Opens the store (tests); default {@link createPolicyStore}. */
  openStore?: (options: PolicyStoreOptions) => Promise<PolicyStore>;
}

/** Starts the shadow; resolves whether or not the candidate loads (it is retried until it does). */
export async function createCandidateShadow(options: CandidateOptions): Promise<CandidateShadow> {
  const maxPending = options.maxPending ?? 1000;
  const counts: Record<Agreement, number> = { agree: 0, disagree: 0, dropped: 0, unloaded: 0 };
  const count = (a: Agreement): void => {
    counts[a]++;
    options.onCount?.(a);
  };
  const candidate = await openCandidateStore(options);
  // The store is read again when a request's turn comes: it may have loaded meanwhile.
  const queue = createBatchQueue<Decided>(options.batch ?? 64, (d) => {
    const store = candidate.store();
    count(store === null ? 'unloaded' : compareWith(store, d, options));
  });
  let closed = false;
  return {
    observe(d) {
      if (closed) return;
      if (candidate.store() === null) count('unloaded');
      else if (queue.size() >= maxPending) count('dropped');
      else queue.push(d);
    },
    status: () => ({
      dir: options.dir,
      policies: candidate.store()?.status() ?? null,
      loadProblems: candidate.problems(),
      decisions: { ...counts },
      pending: queue.size(),
    }),
    idle: () => queue.idle(),
    close() {
      closed = true;
      candidate.close();
      queue.close();
    },
  };
}

/** The candidate's own policy store, once it has loaded. */
interface CandidateStore {
  store(): PolicyStore | null;
  /** Why it has not loaded yet; null once it has. */
  problems(): PolicyProblem[] | null;
  close(): void;
}

/** Opens the candidate's store now if it loads, else retries every poll period until it does. */
async function openCandidateStore(options: CandidateOptions): Promise<CandidateStore> {
  const { dir, logger } = options;
  const openStore = options.openStore ?? createPolicyStore;
  let store: PolicyStore | null = null;
  let loadProblems: PolicyProblem[] | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const tryLoad = async (): Promise<void> => {
    try {
      const opened = await openStore({
        dir,
        logger,
        watch: options.watch ?? true,
        pollMs: options.pollMs,
      });
      if (closed) opened.close();
      else {
        store = opened;
        loadProblems = null;
        clearInterval(retry);
      }
    } catch (err) {
      const problems = problemsOf(dir, err);
      // Said once per distinct failure, not at every retry.
      if (JSON.stringify(problems) !== JSON.stringify(loadProblems)) {
        logNotLoaded(logger, dir, problems);
      }
      loadProblems = problems;
    }
  };
  await tryLoad();
  if (store === null) {
    // A load slower than the poll period is waited for, not piled on: each one starts a worker
    // and compiles the set, and all but the last to finish would be stores left open.
    let loading: Promise<void> | undefined;
    retry = setInterval(() => {
      loading ??= tryLoad().finally(() => (loading = undefined));
    }, options.pollMs);
    retry.unref();
  }
  return {
    store: () => store,
    problems: () => (loadProblems === null ? null : [...loadProblems]),
    close() {
      closed = true;
      clearInterval(retry);
      store?.close();
    },
  };
}

function logNotLoaded(logger: Logger, dir: string, problems: PolicyProblem[]): void {
  logger.error(
    { dir, problems: problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`) },
    'candidate policies do not load: requests are answered by the enforced set alone, and not compared',
  );
}

/** Items handled a batch per turn of the event loop, never on the turn that pushed them. */
interface BatchQueue<T> {
  push(item: T): void;
  size(): number;
  /** Resolves when every item pushed so far has been handled (or the queue closed). */
  idle(): Promise<void>;
  /** Forgets what waits; `idle()` resolves. */
  close(): void;
}

function createBatchQueue<T>(batch: number, handle: (item: T) => void): BatchQueue<T> {
  const items: T[] = [];
  let scheduled = false;
  let closed = false;
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const done = waiters;
    waiters = [];
    for (const w of done) w();
  };
  const drain = (): void => {
    scheduled = false;
    for (let n = 0; n < batch && items.length > 0; n++) handle(items.shift() as T);
    if (items.length > 0) schedule();
    else wake();
  };
  const schedule = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(drain);
  };
  return {
    push(item) {
      items.push(item);
      schedule();
    },
    size: () => items.length,
    idle: () =>
      items.length === 0 && !scheduled
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push(resolve)),
    close() {
      closed = true;
      items.length = 0;
      wake();
    },
  };
}

/** The candidate's answer to a request the enforced set decided, compared; a difference is logged. */
function compareWith(candidate: PolicyStore, d: Decided, options: CandidateOptions): Agreement {
  let answer: Decision;
  try {
    answer = candidate.decide(d.request);
  } catch (err) {
    // decide() never throws; if it ever did, the enforced answer is long gone: say so, go on.
    options.logger.warn({ err, request_id: d.requestId }, 'candidate failed to decide');
    return 'unloaded';
  }
  options.onDecision?.(d.request.action, answer);
  const kind = disagreementOf(d.decision, answer);
  if (kind === null) return 'agree';
  const line = {
    request_id: d.requestId,
    action: d.request.action,
    kind,
    enforced: { decision: verdictOf(d.decision), policies: d.decision.policies },
    candidate: { decision: verdictOf(answer), policies: answer.policies, notices: answer.notices },
    enforced_version: d.policyVersion,
    candidate_version: candidate.current().version,
  };
  // A different allow/deny is what the change is about; another forbid's notice, less so.
  if (kind === 'decision') options.logger.warn(line, 'candidate_disagrees');
  else options.logger.info(line, 'candidate_disagrees');
  return 'disagree';
}

/**
 * Whether two answers to one request differ for its sender: allow against deny (`decision`), or
 * two denials by different policies — another 403 notice (`policies`). Two allows by different
 * permits answer the same.
 */
export function disagreementOf(
  enforced: Decision,
  candidate: Decision,
): 'decision' | 'policies' | null {
  if (enforced.allowed !== candidate.allowed) return 'decision';
  if (enforced.allowed) return null;
  const a = [...enforced.policies].sort().join('\n');
  const b = [...candidate.policies].sort().join('\n');
  return a === b ? null : 'policies';
}

function verdictOf(d: Decision): 'allow' | 'deny' {
  return d.allowed ? 'allow' : 'deny';
}

function problemsOf(dir: string, err: unknown): PolicyProblem[] {
  if (err instanceof PolicyLoadError) return err.problems;
  return [
    { file: dir, line: 1, column: 1, message: err instanceof Error ? err.message : String(err) },
  ];
}
