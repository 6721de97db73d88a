/**
 * The load scenarios. Each builds two request generators with the same shape: one for the
 * backend directly (carrying the trust, tenant and subject headers the sidecar would add) and
 * one for the sidecar (carrying the credential and the tenant header).
 *
 * Writes of the two paths go to disjoint halves of the users, so a direct write never leaves
 * the sidecar's user cache stale (which would turn sidecar writes into 412 retries and measure
 * the benchmark, not the sidecar). Within a half, each writing scenario has users of its own:
 * put-name the first quarter (at most 256), mix's self-renames the second, put-role the rest.
 */
import { TRUST_HEADER } from '../src/common/trust.js';
import type { BenchRequest } from './load.js';
import type { BenchStack, SeededUser } from './stack.js';

export type PathKind = 'direct' | 'sidecar';

/** A named scenario. */
export interface Scenario {
  name: string;
  description: string;
  /** Whether it writes (the runner then lets the sidecar's user cache expire after a run). */
  writes: boolean;
  /** A request generator for one path; where a walk over targets left off is kept across runs. */
  generator(stack: BenchStack, path: PathKind): () => BenchRequest;
}

/**
 * Role sets an admin moves each user through (never admin: only the owner's business, rule 4).
 * The order walks all six transitions between the three sets, so a user's decision key (which
 * holds the current and the requested roles) repeats only every sixth visit.
 */
export const ROLE_SEQUENCE: readonly (readonly string[])[] = [
  ['viewer'],
  ['user', 'viewer'],
  ['user'],
  ['user', 'viewer'],
  ['viewer'],
  ['user'],
];
/** The seeded users hold ['user'], the last set of the sequence. */
const SEEDED_ROLE_STATE = ROLE_SEQUENCE.length - 1;
/** Most targets of the name-change scenario: more than any connection count, so no two collide. */
const NAME_TARGETS = 256;

/** Where a user's current role state is kept between runs (per user id). */
const roleState = new Map<string, number>();
/**
 * Where each scenario and path left off: the next run (warm-up, measured, half rate, profile)
 * continues the walk over the targets instead of starting again at the first one.
 */
const cursors = new Map<string, number>();
let nameCounter = 0;

/** The next position of `scenario` on `path`. */
function advance(scenario: string, path: PathKind): number {
  const key = `${scenario}/${path}`;
  const at = cursors.get(key) ?? 0;
  cursors.set(key, at + 1);
  return at;
}

function headersFor(
  stack: BenchStack,
  path: PathKind,
  actor: SeededUser,
  body: boolean,
): Record<string, string> {
  const h: Record<string, string> =
    path === 'direct'
      ? {
          'x-tenant-id': stack.tenantId,
          [TRUST_HEADER]: stack.trustSecret,
          'x-cedargate-subject': actor.user.id,
        }
      : { authorization: `Bearer ${actor.token}`, 'x-tenant-id': stack.tenantId };
  if (body) h['content-type'] = 'application/json';
  return h;
}

/** The users `scenario` may write to on `path` (see the module comment). */
function writableUsers(
  stack: BenchStack,
  path: PathKind,
  scenario: 'put-name' | 'mix' | 'put-role',
): readonly SeededUser[] {
  const halfSize = Math.floor(stack.users.length / 2);
  const half = path === 'sidecar' ? stack.users.slice(0, halfSize) : stack.users.slice(halfSize);
  const quarter = Math.max(1, Math.floor(half.length / 4));
  if (scenario === 'put-name') return half.slice(0, Math.min(quarter, NAME_TARGETS));
  if (scenario === 'mix') return half.slice(quarter, 2 * quarter);
  return half.slice(2 * quarter);
}

/** Deterministic PRNG (mulberry32): both paths see the same request mix. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'get',
    writes: false,
    description: 'GET one user (a user reads another): every cache warm',
    generator(stack, path) {
      const reader = stack.users[1] ?? stack.owner;
      const target = stack.users[0] ?? stack.owner;
      const req: BenchRequest = {
        method: 'GET',
        path: `/v1/users/${target.user.id}`,
        headers: headersFor(stack, path, reader, false),
      };
      return () => req;
    },
  },
  {
    name: 'put-name',
    writes: true,
    description:
      'PUT a new name: the owner renames up to 256 users in turn (decision cached after the first pass)',
    generator(stack, path) {
      const targets = writableUsers(stack, path, 'put-name');
      const headers = headersFor(stack, path, stack.owner, true);
      return () => {
        const target = targets[advance('put-name', path) % targets.length] as SeededUser;
        return {
          method: 'PUT',
          path: `/v1/users/${target.user.id}`,
          headers,
          body: JSON.stringify({ name: `Renamed ${++nameCounter}` }),
        };
      };
    },
  },
  {
    name: 'put-role',
    writes: true,
    description:
      'PUT a role change: the owner moves each user of a quarter of the tenant through the six transitions between user, viewer and user+viewer; the facts repeat, so after its first pass the decision cache (keyed by facts, not ids) answers almost every one',
    generator(stack, path) {
      const targets = writableUsers(stack, path, 'put-role');
      const headers = headersFor(stack, path, stack.owner, true);
      return () => {
        const target = targets[advance('put-role', path) % targets.length] as SeededUser;
        const next =
          ((roleState.get(target.user.id) ?? SEEDED_ROLE_STATE) + 1) % ROLE_SEQUENCE.length;
        roleState.set(target.user.id, next);
        return {
          method: 'PUT',
          path: `/v1/users/${target.user.id}`,
          headers,
          body: JSON.stringify({ roles: ROLE_SEQUENCE[next] }),
        };
      };
    },
  },
  {
    name: 'mix',
    writes: true,
    description:
      'mix over all users and their tokens: 80% GET a random user, 10% list a page, 10% PUT own name; random callers',
    generator(stack, path) {
      const random = createRandom(7);
      const everyone = stack.users;
      const writers = writableUsers(stack, path, 'mix');
      return () => {
        const r = random();
        if (r < 0.8) {
          const caller = pick(everyone, random);
          const target = pick(everyone, random);
          return {
            method: 'GET',
            path: `/v1/users/${target.user.id}`,
            headers: headersFor(stack, path, caller, false),
          };
        }
        if (r < 0.9) {
          return {
            method: 'GET',
            path: '/v1/users?limit=10',
            headers: headersFor(stack, path, pick(everyone, random), false),
          };
        }
        const self = pick(writers, random);
        return {
          method: 'PUT',
          path: `/v1/users/${self.user.id}`,
          headers: headersFor(stack, path, self, true),
          body: JSON.stringify({ name: `Self ${++nameCounter}` }),
        };
      };
    },
  },
];

/** Scenarios by name, in table order; throws on an unknown name. */
export function selectScenarios(names: readonly string[] | undefined): Scenario[] {
  if (names === undefined) return [...SCENARIOS];
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (s === undefined)
      throw new Error(
        `unknown scenario "${n}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`,
      );
    return s;
  });
}
