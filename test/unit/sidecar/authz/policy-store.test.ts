import assert from 'node:assert/strict';
import {
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { buildCreateContext, buildUpdateContext } from '../../../../src/policy/context.js';
import { parseSchema, SCHEMA_FILE } from '../../../../src/policy/schema.js';
import { PolicyLoadError } from '../../../../src/sidecar/authz/policy-store.js';
import type {
  PolicyStore,
  PolicyStoreOptions,
} from '../../../../src/sidecar/authz/policy-store.js';
import type { AuthzRequest, PrincipalFacts, ResourceFacts } from '../../../../src/policy/types.js';
import { waitFor } from '../../../helpers/net.js';
import { countSchemaConversions } from '../../../helpers/schema-conversions.js';
import { captureLogger } from '../../../helpers/tokens.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';
import { tempDirs } from '../../../helpers/temp-dirs.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));
const { copyOfShipped } = tempDirs('cedargate-policies-');
const configMapTemp = tempDirs('cedargate-configmap-').temp;

async function openStore(
  dir: string,
  options: Partial<PolicyStoreOptions> = {},
): Promise<PolicyStore> {
  const store = await policyStoreOver(dir, options);
  cleanups.push(() => store.close());
  return store;
}

type UserFacts = PrincipalFacts;
const user = (id: string, tenantId: string, roles: string[], isOwner = false): UserFacts => ({
  id,
  tenantId,
  roles,
  isOwner,
});
const asResource = (u: UserFacts): ResourceFacts => ({ type: 'User', ...u });
const tenant = (id: string): ResourceFacts => ({ type: 'Tenant', id });

const olivia = user('olivia', 'acme', ['admin'], true);
const alice = user('alice', 'acme', ['admin']);
const uma = user('uma', 'acme', ['user']);
const vic = user('vic', 'acme', ['viewer']);
const nora = user('nora', 'acme', []);
const gary = user('gary', 'globex', ['admin'], true);

const read = (p: UserFacts, r: UserFacts): AuthzRequest => ({
  principal: p,
  action: 'users:read',
  resource: asResource(r),
  context: {},
});
const list = (p: UserFacts, t: string): AuthzRequest => ({
  principal: p,
  action: 'users:list',
  resource: tenant(t),
  context: {},
});
const remove = (p: UserFacts, r: UserFacts): AuthzRequest => ({
  principal: p,
  action: 'users:delete',
  resource: asResource(r),
  context: {},
});
const create = (p: UserFacts, t: string, roles: string[]): AuthzRequest => ({
  principal: p,
  action: 'users:create',
  resource: tenant(t),
  context: buildCreateContext({ roles }),
});
const update = (
  p: UserFacts,
  r: UserFacts,
  patch: { name?: string; roles?: string[] },
): AuthzRequest => ({
  principal: p,
  action: 'users:update',
  resource: asResource(r),
  context: buildUpdateContext({ name: r.id, roles: r.roles, avatar_digest: null }, patch),
});

const OWNER_ONLY_ADMIN = 'Only the tenant owner may grant or revoke the admin role.';
const DELETE_ADMIN = 'Only the tenant owner may delete an admin (it revokes the admin role).';
const OWN_ROLES = 'No one may change their own roles.';
const OWNER_ROLES = "No one may change the tenant owner's roles.";
const OWNER_DELETE = 'No one may delete the tenant owner.';
const OTHER_USERS = 'Users of another tenant are out of reach.';
const OTHER_TENANT = 'Another tenant is out of reach.';

describe('the shipped policies, decided by the store', async () => {
  const store = await openStore(shippedPolicies);
  const table: [string, AuthzRequest, boolean, string[]][] = [
    ['1 allow: a user lists their tenant', list(uma, 'acme'), true, []],
    ['1 allow: a user without roles reads a user', read(nora, alice), true, []],
    ['1 deny: listing another tenant', list(uma, 'globex'), false, [OTHER_TENANT]],
    ['2 allow: own name', update(uma, uma, { name: 'U' }), true, []],
    ["2 deny: someone else's name", update(uma, vic, { name: 'V' }), false, []],
    ['3 allow: admin creates a user', create(alice, 'acme', ['user']), true, []],
    ['3 allow: admin changes roles', update(alice, uma, { roles: ['viewer'] }), true, []],
    ['3 allow: admin deletes a user', remove(alice, vic), true, []],
    ['3 deny: a viewer deletes', remove(vic, uma), false, []],
    ['3 deny: a user creates', create(uma, 'acme', ['user']), false, []],
    ['4 allow: owner grants admin', update(olivia, uma, { roles: ['admin', 'user'] }), true, []],
    ['4 allow: owner creates an admin', create(olivia, 'acme', ['admin']), true, []],
    [
      '4 deny: admin grants admin',
      update(alice, uma, { roles: ['admin'] }),
      false,
      [OWNER_ONLY_ADMIN],
    ],
    ['4 deny: admin creates an admin', create(alice, 'acme', ['admin']), false, [OWNER_ONLY_ADMIN]],
    ['4 allow: owner deletes an admin', remove(olivia, alice), true, []],
    ['4 allow: an admin deletes themselves', remove(alice, alice), true, []],
    [
      '4 deny: admin deletes another admin',
      remove(alice, user('adam', 'acme', ['admin', 'user'])),
      false,
      [DELETE_ADMIN],
    ],
    [
      '5 allow: own name with the same roles',
      update(alice, alice, { name: 'A', roles: ['admin'] }),
      true,
      [],
    ],
    ['5 deny: own roles', update(uma, uma, { roles: ['viewer'] }), false, [OWN_ROLES]],
    [
      '5 deny: admin drops own admin',
      update(alice, alice, { roles: ['user'] }),
      false,
      [OWN_ROLES, OWNER_ONLY_ADMIN],
    ],
    ['6 allow: admin renames the owner', update(alice, olivia, { name: 'O' }), true, []],
    [
      '6 deny: owner changes own roles',
      update(olivia, olivia, { roles: ['admin', 'user'] }),
      false,
      [OWN_ROLES, OWNER_ROLES],
    ],
    ['6 deny: admin deletes the owner', remove(alice, olivia), false, [OWNER_DELETE]],
    ['7 allow: owner reads in own tenant', read(gary, user('gina', 'globex', ['user'])), true, []],
    ['7 deny: owner reads across tenants', read(gary, uma), false, [OTHER_USERS]],
    [
      '7 deny: owner grants admin across tenants',
      update(gary, uma, { roles: ['admin'] }),
      false,
      [OTHER_USERS],
    ],
    ['7 deny: owner creates across tenants', create(gary, 'acme', ['user']), false, [OTHER_TENANT]],
  ];
  for (const [name, request, allowed, notices] of table) {
    it(`rule ${name}`, () => {
      const d = store.decide(request);
      assert.equal(d.allowed, allowed, JSON.stringify(d));
      assert.deepEqual(d.notices, notices);
      assert.deepEqual(d.errors, []);
      if (allowed) assert.ok(d.policies.length > 0, 'an allow names its permits');
    });
  }

  it('names the determining policies, sorted', () => {
    const d = store.decide(update(olivia, olivia, { roles: ['admin', 'user'] }));
    assert.deepEqual(d.policies, ['no-own-role-change', 'owner-roles-fixed']);
  });

  it('decides a principal holding a role the schema does not declare as without it, and says so', () => {
    const d = store.decide(read({ ...alice, roles: ['admin', 'root'] }, uma));
    assert.equal(d.allowed, true, d.errors.join('; '));
    assert.deepEqual(d.ignoredRoles, ['root']);
    assert.deepEqual(d.errors, []);
    // `root` grants nothing: a root-only user is decided as a user with no roles.
    const rootOnly = store.decide(remove({ ...alice, roles: ['root'] }, uma));
    assert.equal(rootOnly.allowed, false);
    assert.deepEqual(rootOnly.ignoredRoles, ['root']);
  });

  it('answers the same request from the cache, and only the same request', () => {
    const first = store.decide(update(alice, vic, { roles: ['user'] }));
    const second = store.decide(update(alice, vic, { roles: ['user'] }));
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.equal(second.allowed, true);
    // Same principal id, different roles: must be decided again, not served from the cache.
    const demoted = store.decide(update({ ...alice, roles: ['viewer'] }, vic, { roles: ['user'] }));
    assert.equal(demoted.cached, false);
    assert.equal(demoted.allowed, false);
    // Same principal and resource, different context.
    const other = store.decide(update(alice, vic, { roles: ['admin'] }));
    assert.equal(other.cached, false);
    assert.equal(other.allowed, false);
  });

  it('shares one decision between role PUTs on two users with the same facts', () => {
    const on = (id: string) => update(olivia, user(id, 'acme', ['user']), { roles: ['viewer'] });
    const first = store.decide(on('user-17'));
    const second = store.decide(on('user-4211'));
    assert.equal(first.cached, false);
    assert.equal(second.cached, true, 'the second target was decided by Cedar again');
    assert.deepEqual(second, { ...first, cached: true });
    // The same facts but the owner acting on itself: another class, decided anew.
    const self = store.decide(update(olivia, olivia, { roles: ['viewer'] }));
    assert.equal(self.cached, false);
    assert.equal(self.allowed, false);
  });

  it('hands out copies: a caller mutating a decision does not change the cached one', () => {
    const d = store.decide(update(alice, olivia, { roles: [] }));
    d.notices.push('tampered');
    assert.ok(!store.decide(update(alice, olivia, { roles: [] })).notices.includes('tampered'));
  });

  it('reports the live set', () => {
    const s = store.current();
    assert.match(s.version, /^[0-9a-f]{16}$/);
    assert.deepEqual(s.roles, ['admin', 'user', 'viewer']);
    assert.deepEqual(s.files, [
      'admins.cedar',
      'owner.cedar',
      'self-service.cedar',
      'tenancy.cedar',
    ]);
    assert.equal(s.policyIds.length, 13);
    assert.deepEqual(s.policyIds, [...s.policyIds].sort());
  });
});

describe('evaluation errors', () => {
  it('deny, even when the erroring policy is a forbid that Cedar skips', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'overflow.cedar'),
      '@id("overflow-owner")\n@notice("boom")\nforbid (principal, action, resource)\nwhen { principal.isOwner && 9223372036854775807 + 1 > 0 };\n',
    );
    const store = await openStore(dir);
    const d = store.decide(read(olivia, uma)); // permitted by rule 1; the forbid errors
    assert.equal(d.allowed, false);
    assert.deepEqual(d.policies, ['overflow-owner']);
    assert.deepEqual(d.notices, ['boom']);
    assert.match(d.errors.join(), /overflow/);
    assert.equal(store.decide(read(uma, alice)).allowed, true); // no error, no deny
  });
});

describe('the decision cache and literal ids', () => {
  it('never hands the decision about a user a policy names to another user', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'vip.cedar'),
      '@id("vip-fixed")\n@notice("The VIP stays.")\nforbid (principal, action == Cedargate::Action::"users:delete", resource)\nwhen { resource == Cedargate::User::"vip" };\n',
    );
    const store = await openStore(dir);
    const other = store.decide(remove(olivia, user('u2', 'acme', ['user'])));
    assert.equal(other.allowed, true);
    const vip = store.decide(remove(olivia, user('vip', 'acme', ['user'])));
    assert.equal(vip.cached, false);
    assert.deepEqual([vip.allowed, vip.notices], [false, ['The VIP stays.']]);
    assert.equal(store.decide(remove(olivia, user('u3', 'acme', ['user']))).cached, true);
  });

  it('keeps a decision that erred for its own request only (its errors may name its ids)', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'overflow.cedar'),
      '@id("overflow-owner")\n@notice("boom")\nforbid (principal, action, resource)\nwhen { principal.isOwner && 9223372036854775807 + 1 > 0 };\n',
    );
    const store = await openStore(dir);
    assert.equal(store.decide(read(olivia, uma)).cached, false);
    assert.equal(store.decide(read(olivia, uma)).cached, true);
    const renamed = store.decide(read({ ...olivia, id: 'o2' }, { ...uma, id: 'u2' }));
    assert.equal(renamed.cached, false);
    assert.deepEqual(renamed.policies, ['overflow-owner']);
  });

  it('caches per concrete request when the abstraction refuses the schema', async () => {
    const dir = copyOfShipped();
    const path = join(dir, 'schema.cedarschema');
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replace('entity Tenant;', 'entity Tenant { plan?: Long };'),
    );
    const lines: string[] = [];
    const store = await openStore(dir, {
      logger: pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }),
    });
    assert.match(lines.join(), /cached per concrete request only: Tenant attribute `plan`/);
    assert.equal(store.decide(read(alice, uma)).cached, false);
    assert.equal(store.decide(read(alice, uma)).cached, true);
    assert.equal(store.decide(read(alice, vic)).cached, false);
  });
});

describe('loading', () => {
  it('refuses to start on a broken set, naming file:line:column', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'broken.cedar'),
      '\n\n@id("b")\npermit (principal, action, resource)\nwhen { principal.rols.isEmpty() };\n',
    );
    await assert.rejects(openStore(dir), (err: unknown) => {
      assert.ok(err instanceof PolicyLoadError);
      assert.deepEqual(
        err.problems.map((p) => [p.file, p.line, p.column]),
        [[join(dir, 'broken.cedar'), 5, 8]],
      );
      assert.match(err.problems[0]?.message ?? '', /rols/);
      return true;
    });
  });

  it('converts the schema in the isolated loader, never again on the serving thread', async () => {
    const conversions = countSchemaConversions();
    try {
      const dir = copyOfShipped();
      const store = await openStore(dir, { canaryEveryMs: 0 });
      assert.equal(store.status().decider.engine, 'compiled');
      writeFileSync(
        join(dir, 'owner.cedar'),
        `// edited\n${readFileSync(join(dir, 'owner.cedar'), 'utf8')}`,
      );
      assert.equal(await store.reload('test'), 'success');
      assert.equal(store.status().decider.engine, 'compiled');
      assert.equal(
        conversions.count(),
        0,
        'the compiled decider and the cache keys read set.schema',
      );
      assert.ok(parseSchema(readFileSync(join(dir, SCHEMA_FILE), 'utf8')).ok);
      assert.equal(conversions.count(), 1, 'a conversion here is counted');
    } finally {
      conversions.restore();
    }
  });
});

describe('reload', () => {
  it('keeps the last good set on a broken edit, and status names file:line:column', async () => {
    const dir = copyOfShipped();
    const results: string[] = [];
    const store = await openStore(dir, { onReload: (r) => results.push(r) });
    const before = store.current().version;
    writeFileSync(
      join(dir, 'owner.cedar'),
      '@id("x")\npermit (principal, action, resource) when { 1 + };\n',
    );
    const inForce = store.sources?.();
    assert.equal(inForce?.version, before);
    assert.equal(await store.reload('test'), 'failure');
    assert.equal(store.current().version, before);
    assert.deepEqual(store.decide(remove(alice, olivia)).notices, [OWNER_DELETE]); // old set serves
    // The texts of the set in force stay too (the playground explains by them), not the files'.
    assert.equal(store.sources?.(), inForce);
    assert.ok(!inForce?.policies.some((f) => f.text.includes('1 +')));
    const status = store.status();
    assert.equal(status.lastReload?.ok, false);
    assert.equal(status.lastReload?.reason, 'test');
    assert.deepEqual(
      status.lastReload?.problems.map((p) => [p.file, p.line, p.column]),
      [[join(dir, 'owner.cedar'), 2, 49]],
    );
    assert.deepEqual(status.reloads, { success: 0, failure: 1 });
    // The same broken content, polled again, is not refused (and counted) twice.
    assert.equal(await store.reload('poll'), 'unchanged');
    assert.deepEqual(results, ['failure', 'unchanged']);
  });

  it('a role retired from the schema: its holders are decided without it, and status names it', async () => {
    const dir = copyOfShipped();
    const lines: Record<string, unknown>[] = [];
    const recording = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const store = await openStore(dir, { logger: recording });
    const schemaPath = join(dir, 'schema.cedarschema');
    const schema = readFileSync(schemaPath, 'utf8');
    const retire = (roles: string) =>
      writeFileSync(schemaPath, schema.replace('["admin", "user", "viewer"]', roles));

    retire('["admin", "user"]');
    assert.equal(await store.reload('test'), 'success');
    assert.deepEqual(store.status().retiredRoles, ['viewer']);
    assert.deepEqual(store.status().lastReload?.retiredRoles, ['viewer']);
    const line = lines.find((l) => String(l['msg']).startsWith('policies reloaded'));
    assert.deepEqual(line?.['retiredRoles'], ['viewer']);
    assert.match(String(line?.['msg']), /roles no longer in the schema: viewer/);

    // Before the fix Cedar refused every request naming `viewer`: deny, no policy, no notice.
    const read1 = store.decide(read(olivia, vic));
    assert.equal(read1.allowed, true, read1.errors.join('; '));
    assert.deepEqual(read1.ignoredRoles, ['viewer']);
    const cachedRead = store.decide(read(olivia, vic));
    assert.equal(cachedRead.cached, true);
    assert.deepEqual(cachedRead.ignoredRoles, ['viewer']);
    const fix = store.decide(update(olivia, vic, { roles: ['user'] }));
    assert.equal(fix.allowed, true, fix.errors.join('; '));
    assert.deepEqual(fix.ignoredRoles, ['viewer']);
    assert.equal(store.decide(remove(olivia, vic)).allowed, true);
    const byViewer = store.decide(remove(vic, uma));
    assert.equal(byViewer.allowed, false);
    assert.deepEqual(byViewer.ignoredRoles, ['viewer']);
    // Nothing retired, nothing ignored.
    assert.equal(store.decide(read(olivia, uma)).ignoredRoles, undefined);

    // A later reload that retires nothing keeps the list; naming the role again clears it.
    writeFileSync(
      join(dir, 'extra.cedar'),
      '@id("extra")\nforbid (principal, action, resource) when { false };\n',
    );
    assert.equal(await store.reload('test'), 'success');
    assert.deepEqual(store.status().lastReload?.retiredRoles, []);
    assert.deepEqual(store.status().retiredRoles, ['viewer']);
    retire('["admin", "user", "viewer"]');
    assert.equal(await store.reload('test'), 'success');
    assert.deepEqual(store.status().retiredRoles, []);
    assert.equal(store.decide(read(olivia, vic)).ignoredRoles, undefined);
  });

  it('puts a valid edit live within 2 s through fs.watch', async () => {
    const dir = copyOfShipped();
    const store = await openStore(dir, { watch: true, pollMs: 0 });
    const before = store.current().version;
    assert.equal(store.decide(remove(alice, olivia)).allowed, false);
    const owner = readFileSync(join(dir, 'owner.cedar'), 'utf8');
    writeFileSync(
      join(dir, 'owner.cedar'),
      owner.replace('when { resource.isOwner };', 'when { false };'),
    );
    await waitFor(() => store.decide(remove(alice, olivia)).allowed, 2000, 'the edit to be live');
    assert.notEqual(store.current().version, before);
    assert.equal(store.status().lastReload?.ok, true);
    // The texts in force swap with the set.
    assert.equal(store.sources?.().version, store.current().version);
    assert.ok(store.sources?.().policies.some((f) => f.text.includes('when { false };')));
    assert.equal(store.status().lastReload?.reason, 'watch');
  });

  // The 2 s promise is the test above; these leave room for a loaded CI machine.
  it('picks up a new file and a deleted file through fs.watch', async () => {
    const dir = copyOfShipped();
    const store = await openStore(dir, { watch: true, pollMs: 0, debounceMs: 20 });
    writeFileSync(
      join(dir, 'extra.cedar'),
      '@id("no-viewers")\n@notice("viewers only look")\nforbid (principal, action == Cedargate::Action::"users:read", resource)\nwhen { principal.roles.contains(Cedargate::Role::"viewer") };\n',
    );
    await waitFor(() => store.current().policyIds.includes('no-viewers'), 5000, 'the new file');
    assert.deepEqual(store.decide(read(vic, uma)).notices, ['viewers only look']);
    unlinkSync(join(dir, 'extra.cedar'));
    await waitFor(() => !store.current().policyIds.includes('no-viewers'), 5000, 'the deletion');
    assert.equal(store.decide(read(vic, uma)).allowed, true);
    unlinkSync(join(dir, 'owner.cedar'));
    await waitFor(
      () => !store.current().files.includes('owner.cedar'),
      5000,
      'the second deletion',
    );
    assert.equal(store.decide(remove(alice, olivia)).allowed, true);
  });

  it('falls back to the periodic content-hash check without a watcher', async () => {
    const dir = copyOfShipped();
    const store = await openStore(dir, { watch: false, pollMs: 50 });
    const owner = readFileSync(join(dir, 'owner.cedar'), 'utf8');
    writeFileSync(
      join(dir, 'owner.cedar'),
      owner.replace('No one may delete the tenant owner.', 'The owner stays.'),
    );
    await waitFor(
      () => store.decide(remove(alice, olivia)).notices[0] === 'The owner stays.',
      5000,
      'poll',
    );
    assert.equal(store.status().lastReload?.reason, 'poll');
  });

  it('a broken edit reverted to the live content: lastReload turns ok again, and the log says so', async () => {
    const dir = copyOfShipped();
    const cap = captureLogger();
    const store = await openStore(dir, { logger: cap.logger });
    const version = store.current().version;
    const file = join(dir, 'owner.cedar');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '@id("x")\npermit (principal, action, resource) when { 1 + };\n');
    assert.equal(await store.reload('poll'), 'failure');
    assert.equal(store.status().lastReload?.ok, false);
    writeFileSync(file, good);
    assert.equal(await store.reload('poll'), 'unchanged');
    const status = store.status();
    assert.equal(status.lastReload?.ok, true);
    assert.deepEqual(status.lastReload?.problems, []);
    assert.equal(status.live.version, version);
    assert.deepEqual(status.reloads, { success: 0, failure: 1 });
    const lines = cap
      .lines()
      .split('\n')
      .filter((l) => l.includes('good again'));
    assert.equal(lines.length, 1, cap.lines());
    assert.match(lines[0] ?? '', new RegExp(`"version":"${version}"`));
    // Polled again, nothing new: no second line.
    assert.equal(await store.reload('poll'), 'unchanged');
    assert.equal(
      cap
        .lines()
        .split('\n')
        .filter((l) => l.includes('good again')).length,
      1,
    );
    // The same broken content once more is refused again, not skipped as already reported.
    writeFileSync(file, '@id("x")\npermit (principal, action, resource) when { 1 + };\n');
    assert.equal(await store.reload('poll'), 'failure');
  });

  it('reports unchanged when nothing changed', async () => {
    const store = await openStore(copyOfShipped());
    assert.equal(await store.reload('SIGHUP'), 'unchanged');
    assert.equal(store.status().lastReload, null);
  });
});

/** A ConfigMap-style mount: files are links into `..data`, a link to a timestamped dir. */
function configMapDir(): { dir: string; publish(files: Record<string, string>): void } {
  const root = configMapTemp();
  let n = 0;
  let known = new Set<string>();
  return {
    dir: root,
    publish(files) {
      const stamp = `..2024_05_01_10_00_${String(n++).padStart(2, '0')}.123`;
      mkdirSync(join(root, stamp));
      for (const [name, text] of Object.entries(files))
        writeFileSync(join(root, stamp, name), text);
      symlinkSync(stamp, join(root, '..data_tmp'));
      renameSync(join(root, '..data_tmp'), join(root, '..data')); // the atomic swap
      for (const name of Object.keys(files)) {
        if (!known.has(name)) symlinkSync(join('..data', name), join(root, name));
      }
      for (const name of known) if (!(name in files)) unlinkSync(join(root, name));
      known = new Set(Object.keys(files));
    },
  };
}

const schemaText = readFileSync(join(shippedPolicies, 'schema.cedarschema'), 'utf8');
const forbidDelete = (id: string, notice: string) =>
  `@id("${id}")\n@notice("${notice}")\nforbid (principal, action == Cedargate::Action::"users:delete", resource);\n`;
const generation = (tag: string) => ({
  'schema.cedarschema': schemaText,
  'one.cedar': forbidDelete('one', `${tag}1`),
  'two.cedar': forbidDelete('two', `${tag}2`),
});

describe('ConfigMap mounts', () => {
  it('loads through the ..data links and reloads on the symlink swap', async () => {
    const cm = configMapDir();
    cm.publish(generation('A'));
    const store = await openStore(cm.dir, { watch: true, pollMs: 0 });
    assert.deepEqual(store.current().files, ['one.cedar', 'two.cedar']); // not the ..2024 copies
    assert.deepEqual(store.decide(remove(alice, uma)).notices, ['A1', 'A2']);
    cm.publish(generation('B'));
    await waitFor(() => store.decide(remove(alice, uma)).notices[0] === 'B1', 5000, 'the swap');
    assert.deepEqual(store.decide(remove(alice, uma)).notices, ['B1', 'B2']);
    assert.equal(store.status().reloads.success, 1);
  });

  it('serves whole sets to concurrent decisions while reloading', async () => {
    const cm = configMapDir();
    cm.publish(generation('A'));
    const store = await openStore(cm.dir, { watch: true, pollMs: 0, debounceMs: 5 });
    const seen = new Set<string>();
    let stop = false;
    let decisions = 0;
    const decider = (async () => {
      while (!stop) {
        for (let i = 0; i < 20; i++) {
          const d = store.decide(remove(alice, uma));
          seen.add(d.notices.join(','));
          decisions++;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const reloader = (async () => {
      while (!stop) {
        await store.reload('test');
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (let i = 0; i < 30; i++) {
        cm.publish(generation(i % 2 === 0 ? 'B' : 'A'));
        await new Promise((r) => setTimeout(r, 5));
      }
      cm.publish(generation('B'));
      await waitFor(
        () => store.decide(remove(alice, uma)).notices[0] === 'B1',
        5000,
        'the last generation',
      );
    } finally {
      stop = true; // a failed wait must not leave the loops spinning
      await Promise.all([decider, reloader]);
    }
    assert.ok(decisions > 0);
    assert.deepEqual([...seen].sort(), ['A1,A2', 'B1,B2']);
    // Publishing every 5 ms can outrun a read on a loaded machine: such a reload is refused (never
    // a mix of two generations), and once the mount settles the last generation is live.
    assert.equal(store.status().live.policyIds.length > 0, true);
    assert.equal(await store.reload('settled'), 'unchanged');
  });
});
