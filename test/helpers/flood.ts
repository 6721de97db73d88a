/**
 * A flood of requests from a worker thread: `loops` loops over `calls` in turn, as fast as the
 * server answers, until stopped. Its client has an event loop of its own, so whoever measures
 * beside it (the victim's client in test/security/noisy-neighbour.test.ts, the bench's
 * noisy-neighbour scenario) is not slowed by it.
 */
import { Worker } from 'node:worker_threads';

/** One GET of the flood. */
export interface FloodCall {
  path: string;
  token: string;
  tenant: string;
}

export interface Flood {
  /** Stops the loops after their requests in flight; resolves to the statuses they got. */
  stop(): Promise<Record<string, number>>;
}

const FLOOD_WORKER = `
const { request, Agent } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { port, loops, calls } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: loops });
const statuses = {};
let stop = false;
let next = 0;
parentPort.on('message', () => { stop = true; });
const send = (c) => new Promise((resolve) => {
  const req = request({ host: '127.0.0.1', port, path: c.path, agent,
    headers: { authorization: 'Bearer ' + c.token, 'x-tenant-id': c.tenant } }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('error', () => resolve(0));
  req.end();
});
Promise.all(Array.from({ length: loops }, async () => {
  while (!stop) {
    const status = await send(calls[next++ % calls.length]);
    statuses[status] = (statuses[status] || 0) + 1;
  }
})).then(() => { agent.destroy(); parentPort.postMessage({ statuses }); });
`;

/** Starts `loops` loops of GETs over `calls` against 127.0.0.1:`port`. */
export function startFlood(port: number, loops: number, calls: readonly FloodCall[]): Flood {
  if (calls.length === 0) throw new Error('a flood needs at least one call');
  const worker = new Worker(FLOOD_WORKER, { eval: true, workerData: { port, loops, calls } });
  const ended = new Promise<Record<string, number>>((resolve, reject) => {
    worker.once('message', (m: { statuses: Record<string, number> }) => resolve(m.statuses));
    worker.once('error', reject);
  });
  let stopping: Promise<Record<string, number>> | undefined;
  return {
    stop: () =>
      (stopping ??= (async () => {
        worker.postMessage('stop');
        try {
          return await ended;
        } finally {
          await worker.terminate();
        }
      })()),
  };
}
