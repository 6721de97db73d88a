/**
 * The Cedar call alone, in its full and its fitted form (src/policy/call-shape.ts), side by side
 * in one process: rounds alternate between the two so that a machine loaded by others slows
 * both alike, and the ratio of medians is the figure to read.
 *
 *   npm run build && node dist/bench/cedar-call.js [--rounds 5] [--calls 5000] [--policies dir]
 *
 * Each request is decided by both forms first and must get the same answer, so the timing never
 * compares two engines that disagree.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compilePolicySet, type CompiledPolicySet } from '../src/policy/cedar-adapter.js';
import { buildUpdateContext } from '../src/policy/context.js';
import { loadPolicySet } from '../src/policy/policy-set.js';
import type { AuthzRequest } from '../src/policy/types.js';
import { createSamples, percentileOf, round } from './stats.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '5000' },
    policies: { type: 'string' },
  },
});
const rounds = Math.max(1, Number(values.rounds));
const calls = Math.max(100, Number(values.calls));

// dist/bench/cedar-call.js → the repository's policies/.
const shipped = fileURLToPath(new URL('../../policies', import.meta.url));
const set = await loadPolicySet(values.policies ?? shipped);
const meta = Object.fromEntries(
  set.policies.map((p) => [p.id, { effect: p.effect, notice: p.notice }]),
);
const forms: Record<string, CompiledPolicySet> = {
  full: compilePolicySet('bench-full', set.schema, set.texts, meta, { form: 'full' }),
  fitted: compilePolicySet('bench-fitted', set.schema, set.texts, meta),
};
console.log(
  `fitted shape: tenant entities ${String(forms['fitted']?.callShape?.tenantEntities)}` +
    `; slice sizes ${JSON.stringify(
      Object.fromEntries(
        Object.entries(forms['fitted']?.callShape?.slices ?? {}).map(([a, ids]) => [a, ids.length]),
      ),
    )} of ${set.policies.length}`,
);

// The two request kinds the sidecar sends Cedar most: an owner's role PUT and a member's GET.
const tenantId = randomUUID().toUpperCase();
const owner = { id: randomUUID().toUpperCase(), tenantId, roles: ['admin'], isOwner: true };
const kinds: Record<string, (target: string) => AuthzRequest> = {
  'role PUT': (target) => ({
    principal: owner,
    action: 'users:update',
    resource: { type: 'User', id: target, tenantId, roles: ['user'], isOwner: false },
    context: buildUpdateContext(
      { name: 'Target', roles: ['user'], avatar_digest: null },
      { roles: ['user', 'viewer'] },
    ),
  }),
  GET: (target) => ({
    principal: { ...owner, roles: ['user'], isOwner: false },
    action: 'users:read',
    resource: { type: 'User', id: target, tenantId, roles: ['viewer'], isOwner: false },
    context: {},
  }),
};

for (const [kind, make] of Object.entries(kinds)) {
  const requests = Array.from({ length: calls }, () => make(randomUUID().toUpperCase()));
  for (const r of requests) {
    const a = JSON.stringify(forms['full']?.authorize(r));
    const b = JSON.stringify(forms['fitted']?.authorize(r));
    if (a !== b) throw new Error(`the forms disagree on ${JSON.stringify(r)}: ${a} vs ${b}`);
  }
  const p50s: Record<string, number[]> = { full: [], fitted: [] };
  for (let i = 0; i < rounds; i++) {
    for (const [name, compiled] of Object.entries(forms)) {
      const samples = createSamples(requests.length);
      for (const r of requests) {
        const t0 = process.hrtime.bigint();
        compiled.authorize(r);
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      p50s[name]?.push(percentileOf(samples.sorted(), 0.5));
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
  const full = median(p50s['full'] ?? []);
  const fitted = median(p50s['fitted'] ?? []);
  console.log(
    `${kind}: p50 per round full ${(p50s['full'] ?? []).map((x) => round(x, 1)).join(' ')} µs;` +
      ` fitted ${(p50s['fitted'] ?? []).map((x) => round(x, 1)).join(' ')} µs;` +
      ` medians ${round(full, 1)} / ${round(fitted, 1)} µs = ${round(fitted / full, 2)}×`,
  );
}
