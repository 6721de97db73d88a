/**
 * One simulated sidecar replica's Redis traffic, as src/sidecar/cluster/redis-cluster.ts sends
 * it, for bench/replicas-sim.ts. Two connections, named as the sidecar names them:
 *
 * - the reader (`cedargate-sidecar-events`) loops on `XREAD COUNT 500 BLOCK b STREAMS
 *   cedargate:events <last applied id>`. `next-request`: b = 2000 ms (today's). `bounded`
 *   (issue 26 item 1): b = max(5, EVENT_MAX_STALENESS_MS / 4), and the generation check
 *   (`SET cedargate:generation <fresh> NX GET`) moves here: pipelined before an XREAD, every
 *   time (`generationEveryMs` 0) or at most once per `generationEveryMs`.
 * - the command connection (`cedargate-sidecar`) sends the probe — `XREVRANGE cedargate:events
 *   + - COUNT 1` with the generation's `SET NX GET`, pipelined — once a second in both modes
 *   (readiness: can the store write), and in `next-request` before each request, shared by the
 *   requests that arrive while one is in flight (one in flight, one queued, as `probeNewest`).
 *
 * A request in `next-request` is decided once the reader has applied the probe's id; in
 * `bounded` at once while the last XREAD that came back with less than a full batch was sent
 * within the bound before the request arrived (then every event acknowledged before that send
 * is applied), otherwise when the reader gets there — at most EVENT_MAX_LAG_MS.
 *
 * What is measured (the event log is written by the harness's single writer connection, so the
 * stream's order is the log's order; each entry's `version` field is its index in the log):
 * per event, its lag (from the XADD being sent to this replica applying it); per request, the
 * staleness it was decided with — how long before the request arrived the oldest change this
 * replica had not applied yet was acknowledged to its writer (0 when none was).
 */
import type { Samples } from './stats.js';

/** What a replica sends commands through (a node-redis client). */
export interface ModelClient {
  sendCommand(args: string[]): Promise<unknown>;
}

export type ModelMode = 'next-request' | 'bounded';

/** The writer's record of every event: when its XADD was sent and when it was acknowledged. */
export interface EventLog {
  /** Index `n` → ms; NaN until known. */
  readonly sentAt: number[];
  readonly ackAt: number[];
}

/** A fresh, empty log. */
export function createEventLog(): EventLog {
  return { sentAt: [], ackAt: [] };
}

/**
 * How stale a decision at `arrivalMs` is, for a replica that has applied events up to index
 * `appliedIndex` (−1: none): `arrivalMs − ackAt` of the oldest event not applied that was
 * acknowledged before the request arrived; 0 when every such event is applied. Acks arrive in
 * the log's order (one writer connection), so the oldest is the one right after `appliedIndex`.
 */
export function stalenessAt(log: EventLog, appliedIndex: number, arrivalMs: number): number {
  const ack = log.ackAt[appliedIndex + 1];
  if (ack === undefined || Number.isNaN(ack) || ack >= arrivalMs) return 0;
  return arrivalMs - ack;
}

/** The reader's block for a mode: today's 2 s, or a quarter of the bound (at least 5 ms). */
export function readerBlockMs(mode: ModelMode, maxStalenessMs: number): number {
  return mode === 'bounded' ? Math.max(5, Math.floor(maxStalenessMs / 4)) : 2_000;
}

/** XREAD's reply → [id, fields] pairs (the same shape redis-cluster.ts reads). */
export function streamEntries(reply: unknown): [string, string[]][] {
  if (!Array.isArray(reply)) return [];
  const out: [string, string[]][] = [];
  for (const stream of reply as unknown[]) {
    const entries = Array.isArray(stream) ? (stream as unknown[])[1] : undefined;
    if (!Array.isArray(entries)) continue;
    for (const e of entries as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
      out.push([e[0], Array.isArray(e[1]) ? (e[1] as unknown[]).map(String) : []]);
    }
  }
  return out;
}

/** The log index an entry carries in its `version` field; undefined if none. */
export function logIndexOf(fields: readonly string[]): number | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'version') {
      const n = Number(fields[i + 1]);
      return Number.isSafeInteger(n) ? n : undefined;
    }
  }
  return undefined;
}

/** Where a replica's measurements go (shared across replicas except `lagMs`). */
export interface ReplicaSinks {
  /** This replica's event lags, ms. */
  lagMs: Samples;
  /** Probe round trips (both commands answered), ms. */
  probeMs: Samples;
  /** Arrival → decision, ms. */
  decisionMs: Samples;
  /** The staleness of each decision, ms (see `stalenessAt`). */
  stalenessMs: Samples;
}

/** Counters of one replica. */
export interface ReplicaCounts {
  requests: number;
  /** Decided without waiting (bounded: within the bound at arrival). */
  atOnce: number;
  /** Gave up waiting after EVENT_MAX_LAG_MS (the sidecar then decides on fresh reads). */
  timedOut: number;
  /** Decided staler than the mode promises (next-request: > 0; bounded: > the bound). */
  violations: number;
  probes: number;
  xreads: number;
  probeErrors: number;
}

/** Options of {@link createReplica}. */
export interface ReplicaOptions {
  mode: ModelMode;
  maxStalenessMs: number;
  maxLagMs: number;
  /** Bounded: the reader's generation check at most this often (0: before every XREAD). */
  generationEveryMs: number;
  streamKey: string;
  generationKey: string;
  commands: ModelClient;
  events: ModelClient;
  log: EventLog;
  sinks: ReplicaSinks;
  now: () => number;
}

/** A running replica model. */
export interface Replica {
  /** Starts the reader loop; resolves when it ends (after `stop`). */
  run(): Promise<void>;
  /** One request arriving now; resolves when it is decided. */
  request(): Promise<void>;
  /** The once-a-second readiness probe. */
  probeForReadiness(): void;
  stop(): void;
  readonly counts: ReplicaCounts;
  /** Requests arrived and not yet decided. */
  inFlight(): number;
}

const READ_BATCH = 500;
const GENERATION = 'sim0000000000000';

/** Builds one replica's model (nothing is sent until `run` / `request`). */
export function createReplica(o: ReplicaOptions): Replica {
  const counts: ReplicaCounts = {
    requests: 0,
    atOnce: 0,
    timedOut: 0,
    violations: 0,
    probes: 0,
    xreads: 0,
    probeErrors: 0,
  };
  const blockMs = readerBlockMs(o.mode, o.maxStalenessMs);
  let stopped = false;
  let lastId = '0-0';
  let appliedIndex = -1;
  let caughtUpAt = Number.NEGATIVE_INFINITY;
  let generationAt = Number.NEGATIVE_INFINITY;
  let inFlight = 0;
  let waiters: { ready: () => boolean; resolve: (ok: boolean) => void }[] = [];
  let probing: Promise<number> | undefined;
  let queued: Promise<number> | undefined;

  const wake = (): void => {
    if (waiters.length === 0) return;
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (w.ready()) w.resolve(true);
      else still.push(w);
    }
    waiters = still;
  };
  const waitUntil = (ready: () => boolean): Promise<boolean> => {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { ready, resolve };
      waiters.push(w);
      setTimeout(() => {
        if (!waiters.includes(w)) return;
        waiters = waiters.filter((x) => x !== w);
        resolve(false);
      }, o.maxLagMs).unref();
    });
  };
  const generation = (client: ModelClient) =>
    client.sendCommand(['SET', o.generationKey, GENERATION, 'NX', 'GET']);

  async function readOnce(): Promise<void> {
    const sentAt = o.now();
    const xread = [
      ...['XREAD', 'COUNT', String(READ_BATCH), 'BLOCK', String(blockMs)],
      ...['STREAMS', o.streamKey, lastId],
    ];
    counts.xreads++;
    const checkGeneration = o.mode === 'bounded' && sentAt - generationAt >= o.generationEveryMs;
    if (checkGeneration) generationAt = sentAt;
    const reply = checkGeneration
      ? (await Promise.all([generation(o.events), o.events.sendCommand(xread)]))[1]
      : await o.events.sendCommand(xread);
    const at = o.now();
    const entries = streamEntries(reply);
    for (const [id, fields] of entries) {
      lastId = id;
      const n = logIndexOf(fields);
      if (n === undefined) continue;
      appliedIndex = Math.max(appliedIndex, n);
      const sent = o.log.sentAt[n];
      if (sent !== undefined) o.sinks.lagMs.push(at - sent);
    }
    if (entries.length < READ_BATCH) caughtUpAt = Math.max(caughtUpAt, sentAt);
    wake();
  }

  /** The newest stream entry's log index (−1: empty), from a probe begun after the call. */
  function probe(): Promise<number> {
    if (probing === undefined) {
      const sentAt = o.now();
      counts.probes++;
      const run = Promise.all([
        o.commands.sendCommand(['XREVRANGE', o.streamKey, '+', '-', 'COUNT', '1']),
        generation(o.commands),
      ]).then(([reply]) => {
        o.sinks.probeMs.push(o.now() - sentAt);
        const newest = streamEntries([[o.streamKey, reply]])[0];
        return newest === undefined ? -1 : (logIndexOf(newest[1]) ?? -1);
      });
      probing = run;
      run.then(
        () => (probing = undefined),
        () => {
          probing = undefined;
          counts.probeErrors++;
        },
      );
      return run;
    }
    queued ??= probing
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        return probe();
      });
    return queued;
  }

  function decide(arrival: number, waited: boolean, ok: boolean): void {
    const stale = stalenessAt(o.log, appliedIndex, arrival);
    o.sinks.stalenessMs.push(stale);
    o.sinks.decisionMs.push(o.now() - arrival);
    if (!waited) counts.atOnce++;
    if (!ok) counts.timedOut++;
    else if (o.mode === 'next-request' ? stale > 0 : stale > o.maxStalenessMs) counts.violations++;
  }

  async function request(): Promise<void> {
    const arrival = o.now();
    counts.requests++;
    inFlight++;
    try {
      if (o.mode === 'bounded') {
        const fresh = () => caughtUpAt >= arrival - o.maxStalenessMs;
        if (fresh()) return decide(arrival, false, true);
        return decide(arrival, true, await waitUntil(fresh));
      }
      const newest = await probe();
      const applied = () => appliedIndex >= newest;
      const at = applied();
      decide(arrival, !at, at || (await waitUntil(applied)));
    } catch {
      counts.probeErrors++;
    } finally {
      inFlight--;
    }
  }

  return {
    async run() {
      while (!stopped) {
        try {
          await readOnce();
        } catch {
          if (!stopped) await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    request,
    probeForReadiness() {
      probe().catch(() => undefined);
    },
    stop() {
      stopped = true;
      for (const w of waiters) w.resolve(false);
      waiters = [];
    },
    counts,
    inFlight: () => inFlight,
  };
}
