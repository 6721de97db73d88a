/**
 * `npm run bench -- --peers`: cedargate beside the authorizers an express shop would reach for,
 * all in front of the same in-memory users app (bench/peers/users.mjs), in the same run:
 *
 *   bare           the users app alone, trusting the identity headers (no authorization);
 *   cedar-express  express + the official Cedar middleware, with cedargate's schema and policies;
 *   cerbos         express + @cerbos/http asking a Cerbos PDP (bench/peers/cerbos/policies/);
 *   cedargate      the real `cedargate sidecar` with its own copy of the bare app as upstream.
 *
 * The peers are installed into bench/peers/node_modules on first use (pinned in
 * bench/peers/package.json), so the project's own `npm install` does not change. Each stack
 * starts from the same seed, answers a fixed list of requests first (every status compared with
 * cedargate's; a mismatch drops that stack from the timing, loudly), then gets the same loads.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRUST_HEADER } from '../src/common/trust.js';
import type { User } from '../src/common/user.js';
import { freePort } from '../test/helpers/net.js';
import { runLoad, type BenchRequest, type LoadResult } from './load.js';
import {
  repoRoot,
  spawnCedargate,
  spawnServer,
  waitUntilHealthy,
  type ServerProcess,
} from './processes.js';
import { createRandom, drawRoleSet } from './dozen-roles.js';
import {
  differingEntries,
  peerGroups,
  permissionEntries,
  type CheckActor,
  type PeerCheck,
  type PeerGroup,
  type PeerScenarioName,
} from './peer-groups.js';
import { ROLE_SEQUENCE } from './scenarios.js';
import { AUDIENCE, ISSUER, readCacheCounters, type BenchStack, type SeededUser } from './stack.js';
import { round } from './stats.js';

export const PEERS_DIR = join(repoRoot, 'bench', 'peers');
const CERBOS_BINARY = join(
  PEERS_DIR,
  'node_modules',
  '@cerbos',
  'cerbos-linux-x64',
  'cerbos-linux-x64',
);
const PEER_PACKAGES = ['@cedar-policy/authorization-for-expressjs', '@cerbos/http', 'express'];

export type PeerName = 'bare' | 'cedar-express' | 'cerbos' | 'cedargate';
export const PEER_NAMES: readonly PeerName[] = ['bare', 'cedar-express', 'cerbos', 'cedargate'];

/** Whether bench/peers/node_modules holds every peer (the Cerbos binary only exists on linux-x64). */
export function peersInstalled(): boolean {
  return (
    existsSync(CERBOS_BINARY) &&
    PEER_PACKAGES.every((p) => existsSync(join(PEERS_DIR, 'node_modules', p, 'package.json')))
  );
}

/** `npm install --prefix bench/peers` when a peer is missing; throws when that fails. */
export function ensurePeersInstalled(log: (line: string) => void): void {
  if (peersInstalled()) return;
  log(`installing the peers into ${join(PEERS_DIR, 'node_modules')} (first use)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0 || !peersInstalled())
    throw new Error(
      `could not install the peers (npm install --prefix ${PEERS_DIR} exited ${r.status ?? r.signal}); the Cerbos binary needs linux-x64`,
    );
}

// --- the answer check ------------------------------------------------------------------------

export type { CheckActor, PeerCheck, PeerScenarioName } from './peer-groups.js';

/**
 * The shipped policies' rules, one request each (in order: the writes change the state the later
 * requests are decided on, and every stack starts from the same seed).
 */
export const PEER_CHECKS: readonly PeerCheck[] = [
  { label: 'a user reads another', actor: 'alice', method: 'GET', target: 'bob' },
  { label: 'a user reads an unknown id', actor: 'alice', method: 'GET', target: 'ghost' },
  { label: 'no credential', actor: 'none', method: 'GET', target: 'bob' },
  {
    label: 'the owner changes a user’s roles',
    actor: 'owner',
    method: 'PUT',
    target: 'bob',
    body: { roles: ['viewer'] },
  },
  {
    label: 'an admin changes a user’s roles',
    actor: 'admin',
    method: 'PUT',
    target: 'carol',
    body: { roles: ['user', 'viewer'] },
  },
  {
    label: 'a user changes another’s roles',
    actor: 'alice',
    method: 'PUT',
    target: 'bob',
    body: { roles: ['user'] },
  },
  {
    label: 'a user changes their own roles',
    actor: 'alice',
    method: 'PUT',
    target: 'alice',
    body: { roles: ['viewer'] },
  },
  {
    label: 'a user renames themself',
    actor: 'alice',
    method: 'PUT',
    target: 'alice',
    body: { name: 'Alice Renamed' },
  },
  {
    label: 'an admin grants admin',
    actor: 'admin',
    method: 'PUT',
    target: 'bob',
    body: { roles: ['admin'] },
  },
  {
    label: 'an admin changes the owner’s roles',
    actor: 'admin',
    method: 'PUT',
    target: 'owner',
    body: { roles: ['admin', 'viewer'] },
  },
  {
    label: 'the owner changes their own roles',
    actor: 'owner',
    method: 'PUT',
    target: 'owner',
    body: { roles: ['admin', 'viewer'] },
  },
  {
    label: 'the owner grants admin',
    actor: 'owner',
    method: 'PUT',
    target: 'carol',
    body: { roles: ['admin'] },
  },
  {
    label: 'the new admin changes a user’s roles',
    actor: 'carol',
    method: 'PUT',
    target: 'alice',
    body: { roles: ['user', 'viewer'] },
  },
];

/**
 * Statuses a peer may give where cedargate gives another, by design of that peer: the Cedar
 * middleware answers every deny with its own 401 ("Not authorized with explicit deny"), where
 * cedargate (and the Cerbos app) answer 403.
 */
export const ACCEPTED_INSTEAD: Readonly<Partial<Record<PeerName, Record<number, number[]>>>> = {
  'cedar-express': { 403: [401] },
};

/** One request where a stack disagreed with cedargate. */
export interface AnswerMismatch {
  label: string;
  expected: number;
  got: number | undefined;
  /** A permissions answer: the entries that differ (same status, another answer). */
  entries?: string[];
}

/**
 * The requests whose status differs from the reference (cedargate's), allowing `accepted`
 * substitutes (reference status → statuses that count as the same answer). A missing answer is a
 * mismatch too.
 */
export function compareAnswers(
  checks: readonly Pick<PeerCheck, 'label'>[],
  reference: readonly number[],
  answers: readonly number[],
  accepted: Record<number, number[]> = {},
): AnswerMismatch[] {
  const out: AnswerMismatch[] = [];
  checks.forEach((c, i) => {
    const expected = reference[i];
    const got = answers[i];
    if (expected === undefined) throw new Error(`no reference answer for "${c.label}"`);
    if (got === expected || (got !== undefined && (accepted[expected] ?? []).includes(got))) return;
    out.push({ label: c.label, expected, got });
  });
  return out;
}

// --- the stacks ------------------------------------------------------------------------------

/** The peers' tenant: the bench's owner and users, one of them an admin (the checks need one). */
export interface PeerCast {
  tenantId: string;
  owner: SeededUser;
  admin: SeededUser;
  alice: SeededUser;
  bob: SeededUser;
  carol: SeededUser;
  /** GET scenario: reader and target. */
  reader: SeededUser;
  readTarget: SeededUser;
  /** Role-PUT targets: none of the cast, each holding ["user"] at the start. */
  roleTargets: readonly SeededUser[];
}

/** Seeded users the cast takes before the role targets. */
export const CAST_SIZE = 8;

export function castOf(stack: BenchStack): PeerCast {
  const u = (i: number) => stack.users[i] as SeededUser;
  if (stack.users.length < CAST_SIZE + 1)
    throw new Error(`--peers needs --users ≥ ${CAST_SIZE + 1}`);
  return {
    tenantId: stack.tenantId,
    owner: stack.owner,
    admin: u(2),
    alice: u(3),
    bob: u(4),
    carol: u(5),
    reader: u(1),
    readTarget: u(0),
    roleTargets: stack.users.slice(CAST_SIZE),
  };
}

/**
 * The users app's seed: the bench's users as the backend has them, with the cast's admin, and
 * the role targets holding the group's roles.
 */
function seedOf(
  stack: BenchStack,
  cast: PeerCast,
  group: PeerGroup,
): { tenantId: string; users: User[] } {
  const targetRoles = group.targetRoles;
  const targets = new Map(cast.roleTargets.map((t, i) => [t, i]));
  return {
    tenantId: stack.tenantId,
    users: [stack.owner, ...stack.users].map((s) => {
      if (s === cast.admin) return { ...s.user, roles: ['admin'] };
      const i = targets.get(s);
      return i === undefined || targetRoles === undefined
        ? s.user
        : { ...s.user, roles: targetRoles(i) };
    }),
  };
}

/**
 * What a group's stacks start from: a temporary directory holding the group's seed (`seedOf`),
 * and the context naming it; `remove` deletes the directory.
 */
export function groupContext(
  stack: BenchStack,
  cast: PeerCast,
  group: PeerGroup,
  sidecarNodeArgs?: readonly string[],
): { ctx: StartContext; remove: () => void } {
  const tempDir = mkdtempSync(join(tmpdir(), 'cedargate-peers-'));
  const seedFile = join(tempDir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify(seedOf(stack, cast, group)));
  const ctx: StartContext = {
    stack,
    seedFile,
    policyDir: group.policyDir,
    cerbosPolicyDir: group.cerbosPolicyDir,
    roles: group.roles,
    tempDir,
    ...(sidecarNodeArgs !== undefined && { sidecarNodeArgs }),
  };
  return { ctx, remove: () => rmSync(tempDir, { recursive: true, force: true }) };
}

/** One running stack and how a request addresses it. */
export interface PeerStack {
  name: PeerName;
  url: string;
  /** Its processes, whose CPU per request is reported. */
  processes: ServerProcess[];
  headers(actor: SeededUser | undefined, body: boolean): Record<string, string>;
  /** cedargate's cache counters (`cache/result` → count); undefined for the others. */
  cacheCounters?(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface StartContext {
  stack: BenchStack;
  seedFile: string;
  policyDir: string;
  /** The Cerbos PDP's policies (the group's). */
  cerbosPolicyDir: string;
  /** The schema's roles: what the peer apps' permissions answers ask about. */
  roles: readonly string[];
  tempDir: string;
  /** Node flags of cedargate's sidecar (e.g. `--cpu-prof`: bench/permissions-cost.ts). */
  sidecarNodeArgs?: readonly string[];
}

async function startUsersApp(
  name: string,
  mode: 'bare' | 'cedar' | 'cerbos',
  ctx: StartContext,
  env: Record<string, string>,
): Promise<{ proc: ServerProcess; url: string }> {
  const port = await freePort();
  const proc = spawnServer(name, process.execPath, [join(PEERS_DIR, 'server.mjs'), mode], {
    PORT: String(port),
    SEED_FILE: ctx.seedFile,
    TRUST_SECRET: ctx.stack.trustSecret,
    JWKS_FILE: ctx.stack.jwksFile,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    POLICY_DIR: ctx.policyDir,
    ROLES: ctx.roles.join(','),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(proc, `${url}/healthz`);
  return { proc, url };
}

const bearer =
  (tenantId: string) =>
  (actor: SeededUser | undefined, body: boolean): Record<string, string> => ({
    ...(actor === undefined ? {} : { authorization: `Bearer ${actor.token}` }),
    'x-tenant-id': tenantId,
    ...(body ? { 'content-type': 'application/json' } : {}),
  });

async function stopAll(procs: readonly ServerProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

export async function startPeer(name: PeerName, ctx: StartContext): Promise<PeerStack> {
  const tenantId = ctx.stack.tenantId;
  if (name === 'bare') {
    const { proc, url } = await startUsersApp('bare users app', 'bare', ctx, {});
    return {
      name,
      url,
      processes: [proc],
      headers: (actor, body) => ({
        'x-tenant-id': tenantId,
        [TRUST_HEADER]: ctx.stack.trustSecret,
        ...(actor === undefined ? {} : { 'x-cedargate-subject': actor.user.id }),
        ...(body ? { 'content-type': 'application/json' } : {}),
      }),
      stop: () => stopAll([proc]),
    };
  }
  if (name === 'cedar-express') {
    const { proc, url } = await startUsersApp('cedar-express app', 'cedar', ctx, {});
    return { name, url, processes: [proc], headers: bearer(tenantId), stop: () => stopAll([proc]) };
  }
  if (name === 'cerbos') {
    const [http, grpc] = [await freePort(), await freePort()];
    const pdp = spawnServer(
      'cerbos',
      CERBOS_BINARY,
      [
        'server',
        `--config=${join(PEERS_DIR, 'cerbos', 'config.yaml')}`,
        `--set=server.httpListenAddr=127.0.0.1:${http}`,
        `--set=server.grpcListenAddr=127.0.0.1:${grpc}`,
        `--set=storage.disk.directory=${ctx.cerbosPolicyDir}`,
        '--log-level=warn',
      ],
      {},
    );
    try {
      await waitUntilHealthy(pdp, `http://127.0.0.1:${http}/_cerbos/health`);
      const { proc, url } = await startUsersApp('cerbos app', 'cerbos', ctx, {
        CERBOS_URL: `http://127.0.0.1:${http}`,
      });
      return {
        name,
        url,
        processes: [proc, pdp],
        headers: bearer(tenantId),
        stop: () => stopAll([proc, pdp]),
      };
    } catch (err) {
      await pdp.stop();
      throw err;
    }
  }
  const upstream = await startUsersApp('cedargate upstream', 'bare', ctx, {});
  const [port, adminPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(ctx.tempDir, 'sidecar-'));
  const sidecar = spawnCedargate(
    'cedargate sidecar',
    'sidecar',
    {
      DATA_DIR: dataDir,
      POLICY_DIR: ctx.policyDir,
      TRUST_SECRET: ctx.stack.trustSecret,
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      UPSTREAM_URL: upstream.url,
      JWKS_FILE: ctx.stack.jwksFile,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
    },
    ctx.sidecarNodeArgs,
  );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitUntilHealthy(sidecar, `${adminUrl}/readyz`);
  } catch (err) {
    await stopAll([sidecar, upstream.proc]);
    throw err;
  }
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    processes: [sidecar, upstream.proc],
    headers: bearer(tenantId),
    async cacheCounters() {
      return readCacheCounters(await (await fetch(`${adminUrl}/metrics`)).text());
    },
    stop: () => stopAll([sidecar, upstream.proc]),
  };
}

/** The check list's requests for a cast (ghost: an id of the right shape that no user has). */
function checkRequests(
  checks: readonly PeerCheck[],
  cast: PeerCast,
  peer: PeerStack,
): BenchRequest[] {
  const who = (a: CheckActor) => (a === 'none' ? undefined : cast[a]);
  return checks.map((c) => {
    const id =
      c.target === 'ghost' ? '00000000-0000-4000-8000-000000000000' : cast[c.target].user.id;
    return {
      method: c.method === 'PERMISSIONS' ? 'GET' : c.method,
      path: `/v1/users/${id}${c.method === 'PERMISSIONS' ? '/permissions' : ''}`,
      headers: peer.headers(who(c.actor), c.body !== undefined),
      ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }),
    };
  });
}

/** Each check's status, and a permissions answer's entries (`permissionEntries`). */
interface Answers {
  statuses: number[];
  entries: (Record<string, boolean> | undefined)[];
}

async function answersOf(peer: PeerStack, requests: readonly BenchRequest[]): Promise<Answers> {
  const out: Answers = { statuses: [], entries: [] };
  for (const r of requests) {
    const res = await fetch(`${peer.url}${r.path}`, {
      method: r.method,
      headers: r.headers,
      ...(r.body === undefined ? {} : { body: r.body }),
    });
    const text = await res.text();
    out.statuses.push(res.status);
    out.entries.push(
      r.path.endsWith('/permissions') && res.status === 200
        ? permissionEntries(JSON.parse(text))
        : undefined,
    );
  }
  return out;
}

// --- the loads -------------------------------------------------------------------------------

/** A request generator for one stack; the role walk is per stack (each has its own users). */
export function peerGenerator(
  scenario: PeerScenarioName,
  cast: PeerCast,
  peer: PeerStack,
  state: WalkState,
): () => BenchRequest {
  if (scenario === 'put-role-dozen' || scenario === 'permissions-20')
    return wideGenerator(scenario, cast, peer, state);
  if (scenario === 'get') {
    const req: BenchRequest = {
      method: 'GET',
      path: `/v1/users/${cast.readTarget.user.id}`,
      headers: peer.headers(cast.reader, false),
    };
    return () => req;
  }
  // The owner moves each target through the six transitions of the bench's role scenario
  // (user, viewer, user+viewer: all allowed), as `put-role` does against the backend.
  const headers = peer.headers(cast.owner, true);
  return () => {
    const target = cast.roleTargets[state.at++ % cast.roleTargets.length] as SeededUser;
    const next = ((state.roles.get(target.user.id) ?? ROLE_SEQUENCE.length - 1) + 1) % 6;
    state.roles.set(target.user.id, next);
    return {
      method: 'PUT',
      path: `/v1/users/${target.user.id}`,
      headers,
      body: JSON.stringify({ roles: ROLE_SEQUENCE[next] }),
    };
  };
}

/** Where a stack's walk over its targets is, kept across its runs (warm-up, measured). */
export interface WalkState {
  at: number;
  roles: Map<string, number>;
  random?: () => number;
}

/**
 * `put-role-dozen`: the owner sets a random subset of the eleven non-admin roles on each target
 * in turn (the same draws on every stack); `permissions-20`: the owner asks what it may do to
 * each target in turn, the targets holding distinct role sets.
 */
function wideGenerator(
  scenario: 'put-role-dozen' | 'permissions-20',
  cast: PeerCast,
  peer: PeerStack,
  state: WalkState,
): () => BenchRequest {
  const targets = cast.roleTargets;
  if (scenario === 'permissions-20') {
    const headers = peer.headers(cast.owner, false);
    return () => {
      const target = targets[state.at++ % targets.length] as SeededUser;
      return { method: 'GET', path: `/v1/users/${target.user.id}/permissions`, headers };
    };
  }
  const headers = peer.headers(cast.owner, true);
  const random = (state.random ??= createRandom(12));
  return () => {
    const target = targets[state.at++ % targets.length] as SeededUser;
    return {
      method: 'PUT',
      path: `/v1/users/${target.user.id}`,
      headers,
      body: JSON.stringify({ roles: drawRoleSet(random) }),
    };
  };
}

/** One stack's numbers in one scenario. */
export interface PeerRun {
  scenario: PeerScenarioName;
  peer: PeerName;
  load: LoadResult;
  /** Total CPU µs per request over the stack's processes (the load generator apart). */
  stackCpuMicrosPerRequest: number;
  /** cedargate only: its cache events during the measured run. */
  cacheEvents?: Record<string, number>;
}

/** What `--peers` measured. */
export interface PeerResults {
  checks: { label: string; answers: Partial<Record<PeerName, number>> }[];
  /** Stacks left out of the timing, and why. */
  excluded: { peer: PeerName; reason: string; mismatches: AnswerMismatch[] }[];
  runs: PeerRun[];
  /** cedargate's req/s over each other stack's, per scenario. */
  ratios: { scenario: PeerScenarioName; versus: PeerName; ratio: number }[];
}

/** Options of {@link measurePeers}. */
export interface PeerOptions {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  scenarios: readonly PeerScenarioName[];
  policyDir: string;
  log: (line: string) => void;
}

/**
 * Per group of policies (peer-groups.ts), starts every stack, checks its answers against
 * cedargate's, then times the group's scenarios stack by stack (one running at a time: they share
 * two cores). A stack that fails to start or disagrees is reported in `excluded`, never timed in
 * that group.
 */
export async function measurePeers(stack: BenchStack, o: PeerOptions): Promise<PeerResults> {
  ensurePeersInstalled(o.log);
  const cast = castOf(stack);
  const results: PeerResults = { checks: [], excluded: [], runs: [], ratios: [] };
  const groups = peerGroups(PEER_CHECKS, o.policyDir, o.scenarios);
  try {
    for (const group of groups) await measureGroup(stack, cast, group, o, results);
  } finally {
    for (const g of groups) g.remove();
  }
  return results;
}

async function measureGroup(
  stack: BenchStack,
  cast: PeerCast,
  group: PeerGroup,
  o: PeerOptions,
  results: PeerResults,
): Promise<void> {
  const { ctx, remove } = groupContext(stack, cast, group);
  o.log(`peers: ${group.name}: ${group.scenarios.join(', ')}`);
  const running = new Map<PeerName, PeerStack>();
  try {
    await startAndCheck(group, cast, ctx, o.log, results, running);
    for (const scenario of group.scenarios) {
      for (const name of PEER_NAMES) {
        const peer = running.get(name);
        if (peer === undefined) continue;
        results.runs.push(await timePeer(peer, scenario, cast, o));
      }
      const ours = results.runs.find((r) => r.scenario === scenario && r.peer === 'cedargate');
      for (const r of results.runs) {
        if (r.scenario !== scenario || r.peer === 'cedargate' || ours === undefined) continue;
        results.ratios.push({
          scenario,
          versus: r.peer,
          ratio: round(r.load.rps === 0 ? 0 : ours.load.rps / r.load.rps, 3),
        });
      }
    }
  } finally {
    await Promise.all([...running.values()].map((p) => p.stop()));
    remove();
  }
}

/** Starts the group's stacks into `running`, cedargate first, and keeps those that agree. */
async function startAndCheck(
  group: PeerGroup,
  cast: PeerCast,
  ctx: StartContext,
  log: (line: string) => void,
  results: PeerResults,
  running: Map<PeerName, PeerStack>,
): Promise<void> {
  const answers = new Map<PeerName, Answers>();
  // cedargate first: its answers are the reference.
  for (const name of ['cedargate', 'bare', 'cedar-express', 'cerbos'] as const) {
    let peer: PeerStack;
    try {
      peer = await startPeer(name, ctx);
    } catch (err) {
      if (name === 'cedargate') throw err;
      const reason = `did not start (${group.name}): ${err instanceof Error ? err.message.slice(0, 500) : String(err)}`;
      log(`PEER ${name} ${reason}`);
      results.excluded.push({ peer: name, reason, mismatches: [] });
      continue;
    }
    running.set(name, peer);
    const got = await answersOf(peer, checkRequests(group.checks, cast, peer));
    answers.set(name, got);
    log(`peers: ${name} answered the checks ${got.statuses.join(' ')}`);
  }
  const reference = answers.get('cedargate') as Answers;
  results.checks.push(
    ...group.checks.map((c, i) => ({
      label: c.label,
      answers: Object.fromEntries([...answers].map(([n, a]) => [n, a.statuses[i]])),
    })),
  );
  for (const [name, got] of answers) {
    // The bare app authorizes nothing: its answers are not a decision to compare.
    if (name === 'cedargate' || name === 'bare') continue;
    const mismatches = [
      ...compareAnswers(group.checks, reference.statuses, got.statuses, ACCEPTED_INSTEAD[name]),
      ...compareEntries(group.checks, reference, got),
    ];
    if (mismatches.length === 0) continue;
    const lines = mismatches.map(
      (m) =>
        `  "${m.label}": cedargate ${m.expected}, ${name} ${m.got ?? 'no answer'}${m.entries === undefined ? '' : ` (entries differ: ${m.entries.join(', ')})`}`,
    );
    log(`PEER ${name} DISAGREES WITH CEDARGATE; it is not timed:\n${lines.join('\n')}`);
    const reason = `answers differ from cedargate’s (${group.name})`;
    results.excluded.push({ peer: name, reason, mismatches });
    await running.get(name)?.stop();
    running.delete(name);
  }
}

/** Permissions answers (same status) whose entries differ from cedargate's. */
function compareEntries(
  checks: readonly PeerCheck[],
  reference: Answers,
  got: Answers,
): AnswerMismatch[] {
  const out: AnswerMismatch[] = [];
  checks.forEach((c, i) => {
    const [ours, theirs] = [reference.entries[i], got.entries[i]];
    if (ours === undefined || theirs === undefined) return;
    const entries = differingEntries(ours, theirs);
    if (entries.length === 0) return;
    const status = reference.statuses[i] as number;
    out.push({ label: c.label, expected: status, got: got.statuses[i], entries });
  });
  return out;
}

const walks = new Map<string, WalkState>();

async function timePeer(
  peer: PeerStack,
  scenario: PeerScenarioName,
  cast: PeerCast,
  o: PeerOptions,
): Promise<PeerRun> {
  const key = `${peer.name} ${scenario}`;
  const state = walks.get(key) ?? { at: 0, roles: new Map<string, number>() };
  walks.set(key, state);
  const next = peerGenerator(scenario, cast, peer, state);
  const watch = peer.processes.map((p) => ({ name: p.name, pid: p.pid }));
  // cedargate's user cache must forget what a cut-off write left behind (see drainAfter in run.ts).
  const writes = scenario === 'put-role' || scenario === 'put-role-dozen';
  const drainMs = writes && peer.name === 'cedargate' ? 5500 : 500;
  if (o.warmupSeconds > 0) {
    o.log(`peers: ${scenario} ${peer.name} warm-up ${o.warmupSeconds} s`);
    await runLoad({
      url: peer.url,
      connections: o.connections,
      durationSeconds: o.warmupSeconds,
      drainMs,
      next,
    });
  }
  const before = await peer.cacheCounters?.();
  o.log(`peers: ${scenario} ${peer.name} ${o.durationSeconds} s`);
  const load = await runLoad({
    url: peer.url,
    watch,
    connections: o.connections,
    durationSeconds: o.durationSeconds,
    drainMs,
    next,
  });
  for (const p of peer.processes) {
    const ended = p.ended();
    if (ended !== undefined) throw new Error(`peers: ${p.name} died (${ended}):\n${p.output()}`);
  }
  const after = await peer.cacheCounters?.();
  const stackCpu = watch.reduce((sum, p) => sum + (load.cpuMicrosPerRequest[p.name] ?? 0), 0);
  o.log(
    `peers: ${scenario} ${peer.name} ${load.rps} req/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms, non-2xx ${load.non2xx} ${JSON.stringify(load.statusCodes)}`,
  );
  return {
    scenario,
    peer: peer.name,
    load,
    stackCpuMicrosPerRequest: round(stackCpu, 1),
    ...(before !== undefined && after !== undefined
      ? {
          cacheEvents: Object.fromEntries(
            Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]),
          ),
        }
      : {}),
  };
}
