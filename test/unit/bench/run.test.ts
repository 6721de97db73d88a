/**
 * Smoke test of `npm run bench`: runs the compiled benchmark for about a second per measured
 * step (every scenario kind, the half-rate run, a short soak, small micro-benchmarks) so that it
 * cannot rot, and checks that it produced sane JSON and a table. No timing thresholds: only
 * that everything was measured, answered 2xx, and adds up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COLD_STEPS } from '../../../bench/cold-path.js';
import { PEER_CHECKS, PEER_NAMES, peersInstalled, type PeerRun } from '../../../bench/peers.js';
import type { BenchResults } from '../../../bench/report.js';
import { ROLE_SEQUENCE } from '../../../bench/scenarios.js';
import { runBench } from '../../helpers/process.js';

describe('npm run bench (smoke)', { timeout: 180_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'cedargate-bench-smoke-'));
  let run: { code: number | null; stdout: string; stderr: string };
  let results: BenchResults;

  before(async () => {
    run = await runBench([
      '--duration',
      '1',
      '--warmup',
      '0',
      '--connections',
      '4',
      '--users',
      '400',
      '--scenarios',
      'get,put-name,put-role,mix',
      '--half-rate',
      'get',
      '--soak',
      '2',
      '--micro-decisions',
      '200',
      '--micro-tokens',
      '20',
      '--diff-timeout',
      '1',
      '--out-dir',
      out,
    ]);
    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(files.length, 1, `one results file in ${out}: ${files.join(', ')}`);
    results = JSON.parse(readFileSync(join(out, files[0] as string), 'utf8')) as BenchResults;
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('measures every scenario on both paths, all answered 2xx, with a consistent ratio', () => {
    assert.deepEqual(
      results.scenarios.map((s) => s.name),
      ['get', 'put-name', 'put-role', 'mix', 'put-role-dozen'],
    );
    for (const s of results.scenarios) {
      assert.deepEqual(
        [...s.preflight.direct, ...s.preflight.sidecar].filter((c) => c !== 200),
        [],
        s.name,
      );
      for (const l of [s.direct, s.sidecar]) {
        assert.ok(l.requests > 0, `${s.name}: requests`);
        assert.equal(l.non2xx, 0, `${s.name}: ${JSON.stringify(l.statusCodes)}`);
        assert.equal(l.errors, 0, `${s.name}: errors`);
        assert.ok(l.latencyMs.p50 > 0, `${s.name}: p50`);
        assert.ok(
          l.latencyMs.p50 <= l.latencyMs.p99 && l.latencyMs.p99 <= l.latencyMs.p999,
          `${s.name}: percentiles ordered`,
        );
      }
      assert.ok(Math.abs(s.ratio - s.sidecar.rps / s.direct.rps) < 0.01, `${s.name}: ratio`);
    }
  });

  it('decides each role change once per set of facts: the decision cache answers the rest', () => {
    const role = results.scenarios.find((s) => s.name === 'put-role');
    assert.ok(role !== undefined);
    const events = JSON.stringify(role.sidecarCacheEvents);
    const hits = role.sidecarCacheEvents['decision/hit'] ?? 0;
    const misses = role.sidecarCacheEvents['decision/miss'] ?? 0;
    // Every answered request was decided (a request cut off at the end may add one more).
    assert.ok(hits + misses >= role.sidecar.requests, events);
    // 100 targets with the same facts, each moved through the same transitions: the key is the
    // facts, not the ids, so Cedar decides at most one request per transition (an id-keyed
    // cache would miss on every one of the first 600).
    assert.ok(misses <= ROLE_SEQUENCE.length, events);
  });

  it('decides almost every role change over a dozen roles afresh: the cache cannot answer it', () => {
    const dozen = results.scenarios.find((s) => s.name === 'put-role-dozen');
    assert.ok(dozen !== undefined);
    const events = JSON.stringify(dozen.sidecarCacheEvents);
    const hits = dozen.sidecarCacheEvents['decision/hit'] ?? 0;
    const misses = dozen.sidecarCacheEvents['decision/miss'] ?? 0;
    assert.ok(hits + misses >= dozen.sidecar.requests, events);
    assert.ok(misses >= 0.9 * (hits + misses), events);
    assert.match(run.stdout, /\| put-role-dozen \| [^|]+ \| [^|]+ \| \d+ \/ \d+ \| \d+\.\d\d% \|/);
  });

  it('runs both paths at half the direct saturation rate', () => {
    const [h] = results.halfRate;
    const get = results.scenarios.find((s) => s.name === 'get');
    assert.equal(h?.scenario, 'get');
    assert.equal(h?.rate, Math.max(1, Math.floor((get?.direct.rps ?? 0) / 2)));
    assert.equal(
      h?.addedP99Ms,
      Math.round((h.sidecar.latencyMs.p99 - h.direct.latencyMs.p99) * 1000) / 1000,
    );
  });

  it('reports micro-benchmarks that really decided and verified', () => {
    assert.deepEqual(
      results.micro.map((m) => m.name.split(' (')[0]),
      [
        'decision, uncached',
        'decision, cached',
        ...[3, 12, 20].flatMap((n) => [
          `decision, uncached, wasm, ${n} roles`,
          `decision, uncached, compiled, ${n} roles`,
        ]),
        'credential, cold',
        'credential, warm',
      ],
    );
    // policy diff at 8, 10 and 12 named roles, each stopped at --diff-timeout if not done.
    assert.deepEqual(
      results.diffTimings?.map((t) => t.namedRoles),
      [8, 10, 12],
    );
    for (const m of results.micro)
      assert.ok(m.iterations > 0 && m.p50Us > 0 && m.p50Us <= m.p99Us, m.name);
    assert.equal(results.micro[0]?.outcome, 'allowed');
    assert.equal(results.micro[1]?.outcome, 'allowed (cached)');
  });

  it('samples the sidecar RSS during the soak and judges every target', () => {
    assert.ok((results.soak?.samples.length ?? 0) >= 2);
    assert.ok((results.soak?.startMiB ?? 0) > 0);
    assert.equal(results.targets.length, 7);
    assert.equal(
      results.targets.at(-1)?.verdict,
      'not measured',
      'a 2 s soak cannot judge 5 minutes',
    );
  });

  it('charges the cold path’s CPU to its steps: verify, look-up and proxy each cost something (issue 25)', () => {
    const c = results.coldPath;
    assert.ok(c !== undefined && c !== null);
    assert.ok(c.requests > 0 && c.busyMs > 0, JSON.stringify(c));
    assert.deepEqual(
      c.steps.map((s) => s.step),
      [...COLD_STEPS],
    );
    const share = (prefix: string) => c.steps.find((s) => s.step.startsWith(prefix))?.cpuMs ?? 0;
    // A decision is a few µs now: a one-second run may take no sample of it.
    for (const step of ['verify', 'user look-up', 'proxy'])
      assert.ok(share(step) > 0, `${step}: ${JSON.stringify(c.steps)}`);
    const percent = c.steps.reduce((a, s) => a + s.percent, 0);
    assert.ok(Math.abs(percent - 100) < 1, `the shares add up to ${percent}%`);
    assert.match(run.stdout, /### Cold path: a request with a token never seen, by step/);
    assert.match(run.stdout, /\| verify \(jose ES256, claims\) \| [\d.]+ \| [\d.]+% \| [\d.]+ \|/);
  });

  it('prints the markdown table with the machine description', () => {
    assert.match(run.stdout, /\| get \| sidecar \| \d+ \|/);
    assert.match(run.stdout, new RegExp(`Node ${results.machine.node.replace(/\./g, '\\.')}`));
    assert.match(run.stdout, /### Targets \(issue 7\)/);
  });
});

/**
 * `--peers` with every peer, briefly: the answers agree, every stack is timed. The peers live in
 * bench/peers/node_modules, installed on a bench's first use; this test does not install them
 * (npm and a 100 MB Cerbos binary are no unit test's business), so it is skipped without them,
 * and always under CI=true, where CI time matters more than the peers.
 */
const peersSkip =
  process.env.CI === 'true'
    ? 'CI=true: the peers are not installed in CI'
    : peersInstalled()
      ? false
      : 'the peers are not installed (npm install --prefix bench/peers, or run npm run bench -- --peers once)';
if (peersSkip !== false)
  process.stderr.write(`\n*** SKIPPING the --peers smoke test: ${peersSkip} ***\n\n`);

describe('npm run bench -- --peers (smoke)', { timeout: 240_000, skip: peersSkip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'cedargate-bench-peers-'));
  let run: { code: number | null; stdout: string; stderr: string };
  let results: BenchResults;

  before(async () => {
    run = await runBench([
      ...['--peers', '--scenarios', 'none', '--no-dozen-roles', '--no-cold-path'],
      ...['--half-rate', 'none'],
      ...['--soak', '0', '--no-micro', '--duration', '1', '--warmup', '0'],
      ...['--connections', '4', '--users', '60', '--out-dir', out],
    ]);
    assert.equal(run.code, 0, run.stderr);
    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    results = JSON.parse(readFileSync(join(out, files[0] as string), 'utf8')) as BenchResults;
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('checks every stack’s answers, and the Cedar middleware and Cerbos agree with cedargate', () => {
    const peers = results.peers;
    assert.ok(peers !== undefined && peers !== null);
    assert.deepEqual(peers.excluded, [], JSON.stringify(peers.excluded));
    // The shipped checks, then the dozen-role group's and the 20-role group's (peer-groups.ts).
    assert.deepEqual(
      peers.checks.slice(0, PEER_CHECKS.length).map((c) => c.label),
      PEER_CHECKS.map((c) => c.label),
    );
    assert.ok(peers.checks.some((c) => c.label.startsWith('dozen: ')));
    assert.ok(peers.checks.some((c) => c.label.startsWith('20 roles: ')));
    for (const c of peers.checks)
      assert.deepEqual(Object.keys(c.answers).sort(), [...PEER_NAMES].sort(), c.label);
    // Both outcomes occur: a check list that only allowed (or only denied) would prove little.
    const ours = peers.checks.map((c) => c.answers.cedargate);
    assert.ok(ours.includes(200) && ours.includes(403) && ours.includes(401), ours.join());
  });

  it('times every stack in every scenario, all 2xx, with cedargate’s ratio to each', () => {
    const peers = results.peers;
    assert.ok(peers !== undefined && peers !== null);
    for (const scenario of ['get', 'put-role', 'put-role-dozen', 'permissions-20'] as const) {
      const runs: PeerRun[] = peers.runs.filter((r) => r.scenario === scenario);
      assert.deepEqual(runs.map((r) => r.peer).sort(), [...PEER_NAMES].sort(), scenario);
      for (const r of runs) {
        assert.ok(r.load.requests > 0, `${scenario}/${r.peer}`);
        assert.equal(
          r.load.non2xx,
          0,
          `${scenario}/${r.peer}: ${JSON.stringify(r.load.statusCodes)}`,
        );
      }
      const ours = runs.find((r) => r.peer === 'cedargate');
      for (const x of peers.ratios.filter((p) => p.scenario === scenario)) {
        const theirs = runs.find((r) => r.peer === x.versus);
        assert.ok(ours !== undefined && theirs !== undefined);
        assert.ok(Math.abs(x.ratio - ours.load.rps / theirs.load.rps) < 0.01, x.versus);
      }
      assert.ok(ours?.cacheEvents !== undefined, 'cedargate’s cache counters are read');
    }
    assert.match(run.stdout, /### Peers on the same in-memory users app/);
    assert.match(run.stdout, /\| put-role \| express \+ Cerbos PDP \| \d+ \|/);
    assert.match(run.stdout, /\| put-role-dozen \| express \+ Cerbos PDP \| \d+ \|/);
    assert.match(run.stdout, /\| permissions-20 \| Cedar express middleware \| \d+ \|/);
  });
});
