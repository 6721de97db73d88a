/**
 * The playground's long jobs: one worker thread per job, its one answer, a 503 (never a 500) for
 * a job past its time, a worker that fails or stops, a second job while one runs, and close().
 * The workers here are tiny modules given as data: URLs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../../../src/errors.js';
import { createJobRunner, type JobKind } from '../../../../src/sidecar/admin/playground-jobs.js';

const worker = (body: string): URL =>
  new URL(
    `data:text/javascript,${encodeURIComponent(
      `import { parentPort, workerData } from 'node:worker_threads';\n${body}`,
    )}`,
  );
const kind = (body: string, timeoutMs = 30_000): JobKind => ({
  module: worker(body),
  name: 'the test job',
  timeoutMs,
});
const ECHO = kind('parentPort.postMessage({ echoed: workerData });');
const NEVER = (timeoutMs: number) => kind('setInterval(() => {}, 1000);', timeoutMs);

/** A 503 `unavailable` whose message matches. */
const unavailable = (message: RegExp) => (e: unknown) =>
  e instanceof UnavailableError && e.code === 'unavailable' && message.test(e.message);

describe('playground jobs', () => {
  it("answers with the worker's one message, its job given as workerData", async () => {
    const jobs = createJobRunner();
    assert.deepEqual(await jobs.run(ECHO, { a: 1 }), { echoed: { a: 1 } });
  });

  it('is a 503 for a job past its time, a worker that throws, and one that stops unanswered', async () => {
    const jobs = createJobRunner();
    await assert.rejects(
      jobs.run(NEVER(200), null),
      unavailable(/^the test job took longer than 200 ms$/),
    );
    await assert.rejects(
      jobs.run(kind("throw new Error('boom');"), null),
      unavailable(/^the test job failed: boom$/),
    );
    await assert.rejects(
      jobs.run(kind('process.exit(3);'), null),
      unavailable(/^the test job stopped \(exit 3\)$/),
    );
  });

  it('runs one long job at a time: a second is 503 with Retry-After until the first ends', async () => {
    const jobs = createJobRunner();
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const first = jobs.exclusive(ECHO, async () => {
      await held;
      return jobs.run(ECHO, 'first');
    });
    await assert.rejects(
      jobs.exclusive(ECHO, () => jobs.run(ECHO, 'second')),
      (e: unknown) =>
        unavailable(/^the test job is already running; try again$/)(e) &&
        (e as UnavailableError).retryAfterSeconds === 2,
    );
    release();
    assert.deepEqual(await first, { echoed: 'first' });
    assert.deepEqual(await jobs.exclusive(ECHO, () => jobs.run(ECHO, 'third')), {
      echoed: 'third',
    });
    // A job that fails frees the slot too.
    await assert.rejects(
      jobs.exclusive(ECHO, () => Promise.reject(new Error('no'))),
      /no/,
    );
    assert.deepEqual(await jobs.exclusive(ECHO, () => jobs.run(ECHO, 4)), { echoed: 4 });
  });

  it('close() stops the job running: its caller gets a 503', async () => {
    const jobs = createJobRunner();
    const running = jobs.run(NEVER(60_000), null);
    await jobs.close();
    // Its exit code depends on how far the worker had started: 0 before any of its code ran.
    await assert.rejects(running, unavailable(/^the test job stopped \(exit \d+\)$/));
  });
});
