/**
 * The policy sets `npm run bench -- --peers` runs its stacks under, one group of four stacks
 * each (issue 25 item 4): the shipped policies (`get`, `put-role`), the dozen-role set of
 * `put-role-dozen` (bench/dozen-roles.ts: three more roles only the owner grants), and the
 * shipped policies over a 20-role schema (`permissions-20`: a permissions answer asks one
 * decision per role). Each group gives Cedar (cedargate and the Cedar middleware) and Cerbos the
 * same rules: the Cerbos policy of the dozen-role group is the shipped one with its admin rule
 * widened to the privileged roles, as the generated Cedar file widens it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWideRolePolicies } from '../test/helpers/wide-roles.js';
import { DOZEN_ROLES, PRIVILEGED_ROLES, writeDozenRolePolicies } from './dozen-roles.js';
import { repoRoot } from './processes.js';

/** The scenarios of the peers' runs. */
export type PeerScenarioName = 'get' | 'put-role' | 'put-role-dozen' | 'permissions-20';

/** Who sends a check request: the seeded cast of the peers' tenant, or nobody (no credential). */
export type CheckActor = 'owner' | 'admin' | 'alice' | 'bob' | 'carol' | 'none';

/** One request of the fixed list every stack of a group answers before it is timed. */
export interface PeerCheck {
  label: string;
  actor: CheckActor;
  /** `PERMISSIONS`: `GET /v1/users/{target}/permissions`, its answer compared entry by entry. */
  method: 'GET' | 'PUT' | 'PERMISSIONS';
  /** A member of the cast, or `ghost`: an id no user has. */
  target: Exclude<CheckActor, 'none'> | 'ghost';
  body?: Record<string, unknown>;
}

/** One group: its policies for each authorizer, the roles its users hold, its checks. */
export interface PeerGroup {
  name: string;
  scenarios: readonly PeerScenarioName[];
  /** Cedar's (cedargate's and the Cedar middleware's). */
  policyDir: string;
  /** The Cerbos PDP's policy directory. */
  cerbosPolicyDir: string;
  /** The schema's roles (the peer apps' permissions answers ask one decision per role). */
  roles: readonly string[];
  /** The roles of the i-th role target in the seed (undefined: ["user"], as seeded). */
  targetRoles?: (i: number) => string[];
  checks: readonly PeerCheck[];
  remove(): void;
}

export const CERBOS_POLICIES = join(repoRoot, 'bench', 'peers', 'cerbos', 'policies');

/** The shipped rule 4 of the Cerbos policy: only the owner grants or revokes admin. */
const ADMIN_RULE = `"'admin' in R.attr.rolesAdded || 'admin' in R.attr.rolesRemoved"`;

/**
 * Writes the Cerbos policy of the dozen-role group into `dir`: the shipped one, its admin rule
 * widened to the privileged roles (as privileged-roles.cedar widens Cedar's).
 */
export function writeDozenCerbosPolicies(dir: string, shipped = CERBOS_POLICIES): void {
  const text = readFileSync(join(shipped, 'user.yaml'), 'utf8');
  if (!text.includes(ADMIN_RULE))
    throw new Error(`${shipped}/user.yaml has no ${ADMIN_RULE} rule to widen`);
  const roles = ['admin', ...PRIVILEGED_ROLES].map((r) => `'${r}'`).join(', ');
  const widened = `"R.attr.rolesAdded.exists(r, r in [${roles}]) || R.attr.rolesRemoved.exists(r, r in [${roles}])"`;
  writeFileSync(join(dir, 'user.yaml'), text.replace(ADMIN_RULE, widened));
}

/** Roles of the 20-role group's schema, and the checks its permissions answers must agree on. */
const WIDE_ROLES = 20;

/** The three groups; the caller removes them (`remove`). */
export function peerGroups(
  shippedChecks: readonly PeerCheck[],
  shippedPolicyDir: string,
  want: readonly PeerScenarioName[],
): PeerGroup[] {
  const groups: PeerGroup[] = [];
  const shipped = want.filter((s) => s === 'get' || s === 'put-role');
  if (shipped.length > 0)
    groups.push({
      name: 'shipped policies',
      scenarios: shipped,
      policyDir: shippedPolicyDir,
      cerbosPolicyDir: CERBOS_POLICIES,
      roles: ['admin', 'user', 'viewer'],
      checks: shippedChecks,
      remove: () => undefined,
    });
  if (want.includes('put-role-dozen')) groups.push(dozenGroup());
  if (want.includes('permissions-20')) groups.push(wideGroup());
  return groups;
}

function dozenGroup(): PeerGroup {
  const dir = mkdtempSync(join(tmpdir(), 'cedargate-peers-dozen-'));
  const [cedar, cerbos] = [join(dir, 'cedar'), join(dir, 'cerbos')];
  mkdirSync(cedar);
  mkdirSync(cerbos);
  writeDozenRolePolicies(cedar);
  writeDozenCerbosPolicies(cerbos);
  const put = (actor: CheckActor, target: PeerCheck['target'], roles: string[]) =>
    ({ actor, method: 'PUT', target, body: { roles } }) as const;
  return {
    name: 'a dozen roles',
    scenarios: ['put-role-dozen'],
    policyDir: cedar,
    cerbosPolicyDir: cerbos,
    roles: DOZEN_ROLES,
    checks: [
      {
        label: 'dozen: an admin grants a privileged role',
        ...put('admin', 'bob', ['user', 'auditor']),
      },
      {
        label: 'dozen: an admin grants another role',
        ...put('admin', 'carol', ['user', 'support']),
      },
      { label: 'dozen: the owner grants a privileged role', ...put('owner', 'alice', ['billing']) },
      { label: 'dozen: an admin revokes a privileged role', ...put('admin', 'alice', ['user']) },
      { label: 'dozen: the owner revokes it', ...put('owner', 'alice', ['user', 'guest']) },
    ],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function wideGroup(): PeerGroup {
  const cedar = writeWideRolePolicies(WIDE_ROLES);
  const pool = cedar.roles.filter((r) => r !== 'admin');
  const ask = (actor: CheckActor, target: PeerCheck['target'], label: string): PeerCheck => ({
    label: `20 roles: ${label}`,
    actor,
    method: 'PERMISSIONS',
    target,
  });
  return {
    name: `${WIDE_ROLES} roles`,
    scenarios: ['permissions-20'],
    policyDir: cedar.path,
    // The shipped Cerbos policy names no role but admin: it is the same rules over 20 roles.
    cerbosPolicyDir: CERBOS_POLICIES,
    roles: cedar.roles,
    // Distinct role sets, so no two answers share their decisions (the caches cannot help).
    targetRoles: (i) => pool.filter((_, j) => ((i + 1) >> j) & 1),
    checks: [
      ask('owner', 'bob', 'the owner asks about a user'),
      ask('admin', 'bob', 'an admin asks about a user'),
      ask('admin', 'owner', 'an admin asks about the owner'),
      ask('alice', 'alice', 'a user asks about themself'),
      ask('alice', 'bob', 'a user asks about another'),
    ],
    remove: cedar.remove,
  };
}

/** A permissions answer's entries as `path → allowed` (`actions.read`, `roles.add.viewer`, …). */
export function permissionEntries(answer: unknown): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const allowed = (node as { allowed?: unknown }).allowed;
    if (typeof allowed === 'boolean') {
      out[path] = allowed;
      return;
    }
    for (const [k, v] of Object.entries(node)) walk(v, path === '' ? k : `${path}.${k}`);
  };
  const a = answer as { actions?: unknown; roles?: unknown } | null;
  walk(a?.actions, 'actions');
  walk(a?.roles, 'roles');
  return out;
}

/**
 * The entries of `peer`'s answer that differ from `reference`'s (cedargate's), or are missing
 * from it; entries the peer leaves out (cedargate also answers `delete` and `change_avatar`,
 * routes the peers' app does not serve) are not compared. A peer answering nothing differs.
 */
export function differingEntries(
  reference: Record<string, boolean>,
  peer: Record<string, boolean>,
): string[] {
  const keys = Object.keys(peer);
  if (keys.length === 0) return ['(no entries)'];
  return keys.filter((k) => reference[k] !== peer[k]).sort();
}
