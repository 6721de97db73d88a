/**
 * `node dist/bench/permissions-cost.js [seconds] [--cpu-prof DIR]`: the stack CPU of a
 * permissions answer at 20 roles against a cached GET, measured in one run on the peers'
 * cedargate stack (the sidecar in front of the peers' bare users app, bench/peers.ts), the
 * `permissions-20` group's policies and role sets (bench/peer-groups.ts). Prints both CPU costs
 * per request and their ratio (issue 25's target: at most 3).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, type BenchRequest } from './load.js';
import { peerGroups } from './peer-groups.js';
import { startPeer, type PeerStack } from './peers.js';
import { startBenchStack, type SeededUser } from './stack.js';
import { round } from './stats.js';

const CAST = 8;

async function main(argv: string[]): Promise<void> {
  const seconds = Number(argv[0] ?? 8);
  const profileDir = argv[1] === '--cpu-prof' ? argv[2] : undefined;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const [group] = peerGroups([], '', ['permissions-20']);
  if (group === undefined) throw new Error('no permissions-20 group');
  const stack = await startBenchStack({ users: CAST + 200, log });
  const tempDir = mkdtempSync(join(tmpdir(), 'cedargate-permissions-cost-'));
  let peer: PeerStack | undefined;
  try {
    const targets = stack.users.slice(CAST);
    const seedFile = join(tempDir, 'seed.json');
    const roleOf = new Map(targets.map((t, i) => [t, group.targetRoles?.(i) ?? ['user']]));
    writeFileSync(
      seedFile,
      JSON.stringify({
        tenantId: stack.tenantId,
        users: [stack.owner, ...stack.users].map((s) => ({
          ...s.user,
          roles: roleOf.get(s) ?? s.user.roles,
        })),
      }),
    );
    peer = await startPeer('cedargate', {
      stack,
      seedFile,
      policyDir: group.policyDir,
      cerbosPolicyDir: group.cerbosPolicyDir,
      roles: group.roles,
      tempDir,
      ...(profileDir !== undefined && {
        sidecarNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      }),
    });
    const reader = stack.users[1] as SeededUser;
    const readTarget = stack.users[0] as SeededUser;
    const get: BenchRequest = {
      method: 'GET',
      path: `/v1/users/${readTarget.user.id}`,
      headers: peer.headers(reader, false),
    };
    let at = 0;
    const ownerHeaders = peer.headers(stack.owner, false);
    const permissions = (): BenchRequest => {
      const t = targets[at++ % targets.length] as SeededUser;
      return { method: 'GET', path: `/v1/users/${t.user.id}/permissions`, headers: ownerHeaders };
    };
    const { url } = peer;
    const watch = peer.processes.map((p) => ({ name: p.name, pid: p.pid }));
    const cpuOf = async (name: string, next: () => BenchRequest) => {
      await runLoad({ url, connections: 10, durationSeconds: 2, next });
      const load = await runLoad({
        url,
        watch,
        connections: 10,
        durationSeconds: seconds,
        next,
      });
      const cpu = watch.reduce((s, p) => s + (load.cpuMicrosPerRequest[p.name] ?? 0), 0);
      log(
        `${name}: ${load.rps} req/s, non-2xx ${load.non2xx}, stack CPU ${round(cpu, 1)} µs/request ${JSON.stringify(load.cpuMicrosPerRequest)}`,
      );
      return cpu;
    };
    // Profiling: the permissions load alone, so the profile is its cost only.
    const getCpu = profileDir === undefined ? await cpuOf('cached GET', () => get) : 1;
    const permCpu = await cpuOf('permissions-20', permissions);
    log(`ratio permissions-20 / cached GET: ${round(permCpu / getCpu, 2)}`);
  } finally {
    await peer?.stop();
    await stack.close();
    group.remove();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
