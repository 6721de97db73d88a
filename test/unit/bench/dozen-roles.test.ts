/**
 * The dozen-role tenant of `put-role-dozen`: the generated policy directory is one cedargate
 * accepts (`bin/cedargate policy validate`), its extra rules decide as written, and the role
 * sets the scenario draws almost never repeat (so the decision cache cannot answer them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createRandom,
  DOZEN_ROLE_SCENARIO,
  DOZEN_ROLES,
  drawRoleSet,
  PRIVILEGED_ROLES,
  writeDozenRolePolicies,
} from '../../../bench/dozen-roles.js';
import type { BenchStack, SeededUser } from '../../../bench/stack.js';
import { createLogger } from '../../../src/common/logger.js';
import { buildUpdateContext } from '../../../src/policy/context.js';
import { createPolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import { repoRoot, tempDir } from '../../helpers/process.js';

function validate(dir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'bin', 'cedargate'), 'policy', 'validate', '--quick', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('the dozen-role policy directory', () => {
  const dir = tempDir('cedargate-dozen-');
  before(() => writeDozenRolePolicies(dir.path));
  after(() => dir.remove());

  it('validates with `bin/cedargate policy validate`, with all twelve roles', async () => {
    const { code, output } = await validate(dir.path);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`roles: ${DOZEN_ROLES.join(', ')};`));
    assert.equal(DOZEN_ROLES.length, 12);
    assert.equal(new Set(DOZEN_ROLES).size, 12);
  });

  it('keeps the shipped policies and decides the added roles by the admin rule’s shape', async () => {
    const shipped = readFileSync(join(repoRoot, 'policies', 'admins.cedar'), 'utf8');
    assert.equal(readFileSync(join(dir.path, 'admins.cedar'), 'utf8'), shipped);
    const store = await createPolicyStore({
      dir: dir.path,
      logger: createLogger('silent'),
      watch: false,
      pollMs: 0,
      decisionCacheMax: 0,
    });
    try {
      const tenantId = 'T1';
      const target = { type: 'User' as const, id: 'U9', tenantId, roles: ['user'], isOwner: false };
      const change = (roles: string[]) =>
        buildUpdateContext({ name: 'Target', roles: ['user'], avatar_digest: null }, { roles });
      const by = (isOwner: boolean, roles: string[]) =>
        store.decide({
          principal: { id: isOwner ? 'U1' : 'U2', tenantId, roles, isOwner },
          action: 'users:update',
          resource: target,
          context: change(['user', PRIVILEGED_ROLES[0] as string]),
        });
      assert.equal(by(true, ['admin']).allowed, true, 'the owner grants a privileged role');
      const admin = by(false, ['admin']);
      assert.equal(admin.allowed, false, 'an admin may not');
      assert.deepEqual(admin.policies, [`privileged-${PRIVILEGED_ROLES[0]}`]);
      const plain = store.decide({
        principal: { id: 'U2', tenantId, roles: ['admin'], isOwner: false },
        action: 'users:update',
        resource: target,
        context: change(['user', 'guest']),
      });
      assert.equal(plain.allowed, true, 'an admin grants a role that is not privileged');
    } finally {
      store.close();
    }
  });
});

describe('put-role-dozen', () => {
  it('draws non-empty sets of the eleven non-admin roles that almost never repeat', () => {
    const random = createRandom(1);
    const seen = new Set<string>();
    const draws = 2000;
    for (let i = 0; i < draws; i++) {
      const set = drawRoleSet(random);
      assert.ok(set.length > 0);
      assert.ok(
        set.every((r) => DOZEN_ROLES.includes(r) && r !== 'admin'),
        set.join(),
      );
      seen.add(set.join(','));
    }
    // 2,047 possible sets: a (current, requested) pair of them repeats far more rarely still.
    assert.ok(seen.size > draws * 0.55, `${seen.size} distinct sets in ${draws} draws`);
  });

  it('writes disjoint halves of the tenant on the two paths, each with its own headers', () => {
    const user = (i: number): SeededUser =>
      ({ user: { id: `U${i}` }, token: `tok${i}` }) as unknown as SeededUser;
    const stack = {
      tenantId: 'T1',
      trustSecret: 'secret',
      owner: user(0),
      users: Array.from({ length: 10 }, (_, i) => user(i + 1)),
    } as unknown as BenchStack;
    const targets = (path: 'direct' | 'sidecar') => {
      const next = DOZEN_ROLE_SCENARIO.generator(stack, path);
      return Array.from({ length: 10 }, () => next());
    };
    const direct = targets('direct');
    const sidecar = targets('sidecar');
    const ids = (rs: typeof direct) => new Set(rs.map((r) => r.path));
    assert.deepEqual(
      [...ids(direct)].filter((p) => ids(sidecar).has(p)),
      [],
    );
    assert.equal(sidecar[0]?.headers.authorization, 'Bearer tok0');
    assert.equal(direct[0]?.headers['x-cedargate-subject'], 'U0');
    for (const r of [...direct, ...sidecar]) {
      assert.equal(r.method, 'PUT');
      const body = JSON.parse(r.body ?? '') as { roles: string[] };
      assert.ok(body.roles.length > 0);
    }
  });
});
