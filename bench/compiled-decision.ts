/**
 * The compiled decision path (src/policy/compiled/) against Cedar (wasm, the fitted call) on one
 * request each, side by side in one process, at 3 (the shipped policies), 12 (bench/dozen-roles)
 * and 20 roles (the shipped policies over a 20-role schema). Rounds alternate between the two
 * engines so that a machine loaded by others slows both alike; the ratio of medians is the
 * figure to read. Every request is decided by both first and must get the same answer.
 *
 *   npm run build && node dist/bench/compiled-decision.js [--rounds 5] [--calls 5000]
 *
 * {@link runCompiledDecisionBench} is the same as a function, for `npm run bench`'s micro rows.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileLoadedDecider } from '../src/policy/compiled/loaded.js';
import { buildUpdateContext } from '../src/policy/context.js';
import { compileLoadedSet, loadPolicySet } from '../src/policy/policy-set.js';
import type { AuthzRequest, Decision } from '../src/policy/types.js';
import { writeWideRolePolicies } from '../test/helpers/wide-roles.js';
import { createRandom, writeDozenRolePolicies } from './dozen-roles.js';
import { repoRoot } from './processes.js';
import { createSamples, percentileOf, round } from './stats.js';

/** One engine's timing on one kind of request, in microseconds per call (median of rounds). */
export interface CompiledDecisionRow {
  roles: number;
  kind: string;
  engine: 'compiled' | 'wasm';
  p50Us: number;
  p99Us: number;
}

type Decide = (r: AuthzRequest) => Omit<Decision, 'cached'>;

/** The policy directories at 3, 12 and 20 roles; `remove` deletes the generated ones. */
function policyDirs(): { dirs: Record<number, string>; remove: () => void } {
  const dozen = mkdtempSync(join(tmpdir(), 'cedargate-compiled-12-'));
  writeDozenRolePolicies(dozen);
  const wide = writeWideRolePolicies(20);
  return {
    dirs: { 3: join(repoRoot, 'policies'), 12: dozen, 20: wide.path },
    remove: () => {
      rmSync(dozen, { recursive: true, force: true });
      wide.remove();
    },
  };
}

/** An owner's role PUTs (role sets drawn over the schema's roles) and a member's GETs. */
function requestsOf(roles: readonly string[], calls: number): Record<string, AuthzRequest[]> {
  const random = createRandom(roles.length);
  const draw = () => roles.filter(() => random() < 0.3);
  const tenantId = randomUUID();
  const owner = { id: randomUUID(), tenantId, roles: ['admin'], isOwner: true };
  const put = (): AuthzRequest => {
    const current = draw();
    return {
      principal: owner,
      action: 'users:update',
      resource: { type: 'User', id: randomUUID(), tenantId, roles: current, isOwner: false },
      context: buildUpdateContext(
        { name: 'T', roles: current, avatar_digest: null },
        { roles: draw() },
      ),
    };
  };
  const get = (): AuthzRequest => ({
    principal: { ...owner, roles: draw(), isOwner: false },
    action: 'users:read',
    resource: { type: 'User', id: randomUUID(), tenantId, roles: draw(), isOwner: false },
    context: {},
  });
  return {
    'role PUT': Array.from({ length: calls }, put),
    GET: Array.from({ length: calls }, get),
  };
}

function p50p99(decide: Decide, requests: readonly AuthzRequest[]): [number, number] {
  const samples = createSamples(requests.length);
  for (const r of requests) {
    const t0 = process.hrtime.bigint();
    decide(r);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const sorted = samples.sorted();
  return [percentileOf(sorted, 0.5), percentileOf(sorted, 0.99)];
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;

/** Times both engines at 3, 12 and 20 roles. */
export async function runCompiledDecisionBench(options: {
  rounds: number;
  calls: number;
  log: (line: string) => void;
}): Promise<CompiledDecisionRow[]> {
  const { dirs, remove } = policyDirs();
  const rows: CompiledDecisionRow[] = [];
  try {
    for (const [count, dir] of Object.entries(dirs)) {
      const set = await loadPolicySet(dir);
      const wasm = compileLoadedSet(`bench-compiled-${count}`, set, { engine: 'wasm' });
      const answer = compileLoadedDecider(set, (r) => wasm.authorize(r));
      if (!('decider' in answer)) throw new Error(`not compiled: ${answer.unsupported}`);
      const engines: Record<'compiled' | 'wasm', Decide> = {
        compiled: (r) => answer.decider.decide(r),
        wasm: (r) => wasm.authorize(r),
      };
      for (const [kind, requests] of Object.entries(requestsOf(set.schema.roles, options.calls))) {
        for (const r of requests) {
          const [a, b] = [JSON.stringify(engines.wasm(r)), JSON.stringify(engines.compiled(r))];
          if (a !== b)
            throw new Error(`the engines disagree on ${JSON.stringify(r)}: ${a} vs ${b}`);
        }
        const runs = { compiled: [] as [number, number][], wasm: [] as [number, number][] };
        for (let i = 0; i < options.rounds; i++) {
          runs.wasm.push(p50p99(engines.wasm, requests));
          runs.compiled.push(p50p99(engines.compiled, requests));
        }
        for (const engine of ['compiled', 'wasm'] as const) {
          const p50Us = median(runs[engine].map((x) => x[0]));
          const p99Us = median(runs[engine].map((x) => x[1]));
          rows.push({ roles: Number(count), kind, engine, p50Us, p99Us });
        }
        const [c, w] = rows.slice(-2) as [CompiledDecisionRow, CompiledDecisionRow];
        options.log(
          `${count} roles, ${kind}: compiled p50 ${round(c.p50Us, 1)} µs (p99 ${round(c.p99Us, 1)}),` +
            ` wasm p50 ${round(w.p50Us, 1)} µs (p99 ${round(w.p99Us, 1)}),` +
            ` ${round(w.p50Us / c.p50Us, 1)}× faster; fallbacks ${JSON.stringify(answer.decider.stats().fallbacks)}`,
        );
      }
    }
  } finally {
    remove();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      calls: { type: 'string', default: '5000' },
    },
  });
  await runCompiledDecisionBench({
    rounds: Math.max(1, Number(values.rounds)),
    calls: Math.max(100, Number(values.calls)),
    log: (line) => console.log(line),
  });
}
