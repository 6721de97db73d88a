/**
 * `noisy-neighbour`: one tenant floods the sidecar while another reads one user in a loop; the
 * other's p50 under each flood against its p50 alone, measured just before, in the same run
 * (issue 22, item 4; docs/security.md, case 42). Target: within 3×.
 *
 * Its own stack, over a 20-role schema (test/helpers/wide-roles.ts): the noisy tenant's users
 * hold distinct role sets, so its permissions answers are 25 decisions the caches cannot keep.
 * The floods, each of FLOOD_LOOPS loops from a worker thread (test/helpers/flood.ts), so that
 * the victim's client (autocannon, one connection) is not slowed by them:
 *
 * - cold tokens: every request a credential never seen (an ES256 verification each);
 * - permissions: `GET /v1/users/{id}/permissions` over users of distinct role sets;
 * - plain GETs: the noisy owner reads itself (every cache warm).
 */
import { startFlood, type FloodCall } from '../test/helpers/flood.js';
import { writeWideRolePolicies } from '../test/helpers/wide-roles.js';
import { runLoad, type LoadResult } from './load.js';
import { startBenchStack, type SeededUser } from './stack.js';
import { round } from './stats.js';

export const NOISY_NEIGHBOUR = 'noisy-neighbour';
/** The target: the victim's p50 under a flood within this many times its p50 alone. */
export const NOISY_TARGET_RATIO = 3;
const ROLES = 20;
const NOISY_USERS = 600;
const FLOOD_LOOPS = 8;
/** Fresh tokens signed for the cold-token flood (the loops wrap around past them). */
const COLD_TOKENS = 12_000;

/** One flood's numbers. */
export interface NoisyFloodResult {
  flood: string;
  alone: LoadResult;
  flooded: LoadResult;
  /** flooded p50 / alone p50. */
  ratio: number;
  /** What the noisy tenant got, by status (503: past its own queue). */
  noisyStatuses: Record<string, number>;
}

export interface NoisyNeighbourResult {
  roles: number;
  floodLoops: number;
  targetRatio: number;
  floods: NoisyFloodResult[];
}

/** Runs the scenario; `durationSeconds` per phase (alone, flooded) of each flood. */
export async function measureNoisyNeighbour(options: {
  durationSeconds: number;
  log: (line: string) => void;
  /** Users of the noisy tenant (default 600), and fresh tokens signed (default 12,000): smaller for a smoke test. */
  users?: number;
  coldTokens?: number;
}): Promise<NoisyNeighbourResult> {
  const { log, durationSeconds } = options;
  const users = options.users ?? NOISY_USERS;
  const coldTokens = options.coldTokens ?? COLD_TOKENS;
  const policies = writeWideRolePolicies(ROLES);
  const pool = policies.roles.filter((r) => r !== 'admin');
  try {
    log(`${NOISY_NEIGHBOUR}: seeding ${users} users over ${ROLES} roles, and a victim`);
    const stack = await startBenchStack({
      users,
      policyDir: policies.path,
      roles: (i) => pool.filter((_, j) => ((i + 1) >> j) & 1),
      otherTenant: true,
      log,
    });
    try {
      const victim = stack.other;
      if (victim === undefined) throw new Error('the bench stack seeded no second tenant');
      const port = Number(new URL(stack.sidecarUrl).port);
      log(`${NOISY_NEIGHBOUR}: signing ${coldTokens} fresh tokens`);
      const cold: FloodCall[] = [];
      for (let i = 0; i < coldTokens; i += 500) {
        const batch = Array.from({ length: Math.min(500, coldTokens - i) }, (_, k) =>
          stack.sign((stack.users[(i + k) % stack.users.length] as SeededUser).user.id),
        );
        for (const token of await Promise.all(batch))
          cold.push({ tenant: stack.tenantId, token, path: `/v1/users/${stack.owner.user.id}` });
      }
      const floods: Record<string, FloodCall[]> = {
        'cold tokens': cold,
        'permissions (20 roles)': stack.users.map((u) => ({
          tenant: stack.tenantId,
          token: stack.owner.token,
          path: `/v1/users/${u.user.id}/permissions`,
        })),
        'plain GETs': [
          {
            tenant: stack.tenantId,
            token: stack.owner.token,
            path: `/v1/users/${stack.owner.user.id}`,
          },
        ],
      };
      const victimRequest = {
        method: 'GET' as const,
        path: `/v1/users/${victim.owner.user.id}`,
        headers: { authorization: `Bearer ${victim.owner.token}`, 'x-tenant-id': victim.tenantId },
      };
      const victimRun = () =>
        runLoad({
          url: stack.sidecarUrl,
          connections: 1,
          durationSeconds,
          next: () => victimRequest,
        });
      await runLoad({
        url: stack.sidecarUrl,
        connections: 1,
        durationSeconds: 1,
        next: () => victimRequest,
      });
      const results: NoisyFloodResult[] = [];
      for (const [flood, calls] of Object.entries(floods)) {
        const alone = await victimRun();
        const noisy = startFlood(port, FLOOD_LOOPS, calls);
        let flooded: LoadResult;
        let noisyStatuses: Record<string, number>;
        try {
          await new Promise((r) => setTimeout(r, 500));
          flooded = await victimRun();
        } finally {
          noisyStatuses = await noisy.stop();
        }
        stack.assertRunning();
        const ratio = round(flooded.latencyMs.p50 / Math.max(alone.latencyMs.p50, 1e-6), 2);
        log(
          `${NOISY_NEIGHBOUR}: ${flood}: victim p50 ${flooded.latencyMs.p50} ms against ${alone.latencyMs.p50} ms alone (${ratio}×), noisy ${JSON.stringify(noisyStatuses)}`,
        );
        results.push({ flood, alone, flooded, ratio, noisyStatuses });
      }
      return {
        roles: ROLES,
        floodLoops: FLOOD_LOOPS,
        targetRatio: NOISY_TARGET_RATIO,
        floods: results,
      };
    } finally {
      await stack.close();
    }
  } finally {
    policies.remove();
  }
}

/** The scenario's table (markdown). */
export function renderNoisyNeighbour(r: NoisyNeighbourResult): string {
  const rows = r.floods.map((f) => {
    const met = f.ratio <= r.targetRatio ? 'met' : 'missed';
    const noisy = Object.entries(f.noisyStatuses)
      .map(([s, n]) => `${n}× ${s}`)
      .join(', ');
    return `| ${f.flood} | ${f.alone.latencyMs.p50} | ${f.flooded.latencyMs.p50} | ${f.ratio}× (${met}) | ${f.flooded.latencyMs.p99} | ${f.flooded.rps} | ${noisy} |`;
  });
  return [
    `### ${NOISY_NEIGHBOUR}: one tenant's flood (${r.floodLoops} loops), another tenant's p50`,
    '',
    `Target: the victim's p50 under the flood within ${r.targetRatio}× its p50 alone (measured just before, same run).`,
    '',
    '| flood | victim p50 alone (ms) | victim p50 flooded (ms) | ratio | victim p99 flooded (ms) | victim req/s flooded | noisy tenant got |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
  ].join('\n');
}
