/**
 * `node dist/bench/permissions-cost.js [seconds] [--targets N] [--rounds R] [--walks get,warm,cold]
 * [--cpu-prof DIR]`: the sidecar CPU of a permissions answer at 20 roles against a cached GET,
 * measured in one run on the peers' cedargate stack — bench/peers.ts's cast, seed, walks and
 * sidecar, the `permissions-20` group's policies and role sets (bench/peer-groups.ts). The
 * owner asks about its targets in two walks, and the run states both:
 *
 *   warm  200 targets spread over all of them, each asked again well within the user cache's
 *         TTL (USER_CACHE_TTL_MS, 5 s): the target is a hit in the sidecar's user cache;
 *   cold  every target in turn (N, by default 10,000 as in the full bench's peers run), none
 *         asked twice within the TTL: each answer looks its target up in the backend. This is
 *         what a user interface pays the first time it shows a user: its GET of that user does
 *         not warm the cache (a read is decided without looking the target up).
 *
 * Each round times a cached GET (one reader, one target), then each walk, one after the other;
 * per load it prints the req/s, every process's CPU µs per request and the user cache's hits and
 * misses, then each walk's sidecar CPU over the GET's of that round (issue 25: at most 3).
 */
import { parseArgs } from 'node:util';
import { runLoad, type BenchRequest } from './load.js';
import { peerGroups } from './peer-groups.js';
import {
  CAST_SIZE,
  castOf,
  groupContext,
  peerGenerator,
  startPeer,
  type PeerCast,
  type PeerStack,
} from './peers.js';
import { startBenchStack } from './stack.js';
import { round } from './stats.js';

const WALKS = ['get', 'warm', 'cold'] as const;
type Walk = (typeof WALKS)[number];
/** Targets of the warm walk: asked every ~0.2 s at 1,000 answers/s, far within the TTL. */
const WARM_TARGETS = 200;
const CONNECTIONS = 16;

interface Options {
  seconds: number;
  targets: number;
  rounds: number;
  walks: Walk[];
  profileDir: string | undefined;
}

function optionsOf(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      targets: { type: 'string' },
      rounds: { type: 'string' },
      walks: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  const walks = (values.walks ?? WALKS.join(',')).split(',');
  for (const w of walks)
    if (!(WALKS as readonly string[]).includes(w))
      throw new Error(`--walks takes ${WALKS.join(', ')}, got "${w}"`);
  return {
    seconds: Number(positionals[0] ?? 8),
    targets: Number(values.targets ?? 10_000),
    rounds: Number(values.rounds ?? 1),
    walks: walks as Walk[],
    profileDir: values['cpu-prof'],
  };
}

/** The three request generators, each with its own place in its walk. */
function walksOf(cast: PeerCast, peer: PeerStack): Record<Walk, () => BenchRequest> {
  const fresh = () => ({ at: 0, roles: new Map<string, number>() });
  const stride = Math.max(1, Math.floor(cast.roleTargets.length / WARM_TARGETS));
  const warmCast = { ...cast, roleTargets: cast.roleTargets.filter((_, i) => i % stride === 0) };
  return {
    get: peerGenerator('get', cast, peer, fresh()),
    warm: peerGenerator('permissions-20', warmCast, peer, fresh()),
    cold: peerGenerator('permissions-20', cast, peer, fresh()),
  };
}

async function main(argv: string[]): Promise<void> {
  const o = optionsOf(argv);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const [group] = peerGroups([], '', ['permissions-20']);
  if (group === undefined) throw new Error('no permissions-20 group');
  const stack = await startBenchStack({ users: CAST_SIZE + o.targets, log });
  const cast = castOf(stack);
  const profile =
    o.profileDir === undefined ? undefined : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`];
  const { ctx, remove } = groupContext(stack, cast, group, profile);
  let peer: PeerStack | undefined;
  try {
    peer = await startPeer('cedargate', ctx);
    const next = walksOf(cast, peer);
    const { url } = peer;
    const watch = peer.processes.map((p) => ({ name: p.name, pid: p.pid }));
    const counters = (): Promise<Record<string, number>> =>
      peer?.cacheCounters?.() ?? Promise.resolve({});
    // JIT and caches warm: the GET and the warm walk, as every round starts.
    for (const w of ['get', 'warm'] as const)
      await runLoad({ url, connections: CONNECTIONS, durationSeconds: 2, next: next[w] });
    for (let r = 1; r <= o.rounds; r++) {
      const sidecar: Partial<Record<Walk, number>> = {};
      for (const w of o.walks) {
        const before = await counters();
        const durationSeconds = o.seconds;
        const load = await runLoad({
          url,
          watch,
          connections: CONNECTIONS,
          durationSeconds,
          next: next[w],
        });
        const after = await counters();
        const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
        sidecar[w] = load.cpuMicrosPerRequest['cedargate sidecar'] ?? 0;
        log(
          `round ${r} ${w}: ${load.rps} req/s, non-2xx ${load.non2xx}, CPU µs/request ${JSON.stringify(load.cpuMicrosPerRequest)}, user cache ${delta('user/hit')} hits ${delta('user/miss')} misses`,
        );
      }
      const get = sidecar.get;
      for (const w of ['warm', 'cold'] as const) {
        const cost = sidecar[w];
        if (get !== undefined && cost !== undefined)
          log(
            `round ${r} ratio permissions-20 (${w} target) / cached GET, sidecar CPU: ${round(cost / get, 2)}`,
          );
      }
    }
  } finally {
    await peer?.stop();
    await stack.close();
    group.remove();
    remove();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
