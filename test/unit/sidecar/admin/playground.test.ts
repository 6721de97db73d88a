/**
 * The playground's questions on a real policy store over a small set in a temporary directory:
 * both sides decided, the copy's problems, the diff in its worker thread (one at a time), the
 * request built as the request path builds it, and the checks of what a page sends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CedargateError } from '../../../../src/errors.js';
import type { PolicyStore } from '../../../../src/sidecar/authz/policy-store.js';
import {
  authzRequestOf,
  createPlayground,
  type Playground,
  type PlaygroundRequest,
} from '../../../../src/sidecar/admin/playground.js';
import { diffSections } from '../../../../src/policy/authoring/diff-render.js';
import {
  ADMINS_MANAGE,
  LIST,
  ONLY_OWNER_MAKES_ADMINS,
  READ,
  SMALL_SCHEMA,
  schemaWithRoles,
} from '../../../helpers/small-policies.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';

const READ_REQUEST: PlaygroundRequest = {
  action: 'users:read',
  principal: { roles: ['user'], owner: false },
  target: { roles: [], owner: false, same_user: false, other_tenant: false },
  body: {},
};
const code = (c: string) => (e: unknown) => e instanceof CedargateError && e.code === c;

describe('playground', () => {
  let dir: string;
  let policies: PolicyStore;
  let playground: Playground;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cedargate-playground-'));
    writeFileSync(join(dir, 'schema.cedarschema'), SMALL_SCHEMA);
    writeFileSync(join(dir, 'a.cedar'), LIST);
    policies = await policyStoreOver(dir);
    playground = createPlayground({ policies, policyDir: dir });
  });
  after(async () => {
    await playground.close();
    policies.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the live texts, in force', async () => {
    const live = await playground.live();
    assert.equal(live.schema, SMALL_SCHEMA);
    assert.deepEqual(live.files, [{ file: 'a.cedar', text: LIST }]);
    assert.equal(live.in_force, true);
    assert.equal(live.version, policies.current().version);
    assert.equal(live.invariants, null, 'no invariants.yaml beside this set');
  });

  it('decides by the live set and by the edited copy, and the live set stays', async () => {
    const before = policies.current().version;
    const edited = { schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST + READ }] };
    const a = await playground.decide(edited, READ_REQUEST);
    assert.ok(a.live.ok && a.edited.ok);
    assert.equal(a.live.explanation.decision, 'deny');
    assert.equal(a.edited.explanation.decision, 'allow');
    assert.deepEqual(
      a.edited.explanation.policies.map((p) => [p.id, p.location]),
      [['read', 'a.cedar:4']],
    );
    assert.equal(policies.current().version, before);
    assert.equal(policies.decide(authzRequestOf(READ_REQUEST)).allowed, false);
  });

  it("explains the edited copy's default deny: the permit whose scope matched, its false condition", async () => {
    // The read permit's condition fails for a target of another tenant: nothing permits.
    const edited = { schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST + READ }] };
    const target = { ...READ_REQUEST.target, other_tenant: true };
    const a = await playground.decide(edited, { ...READ_REQUEST, target });
    assert.ok(a.edited.ok);
    assert.equal(a.edited.explanation.decision, 'deny');
    assert.deepEqual(a.edited.explanation.policies, []);
    assert.deepEqual(
      a.edited.explanation.unmet?.map((p) => [p.id, p.location, p.condition?.location]),
      [['read', 'a.cedar:4', 'a.cedar:6']],
    );
    assert.equal(a.edited.explanation.unmet?.[0]?.condition?.outcome, 'failed');
    // The live set (its texts on disk are the set in force): the list permit, on another tenant.
    const list = await playground.decide(edited, { ...READ_REQUEST, action: 'users:list', target });
    assert.ok(list.live.ok);
    assert.deepEqual(
      list.live.explanation.unmet?.map((p) => [p.id, p.location, p.condition?.location]),
      [['list', `${join(dir, 'a.cedar')}:1`, `${join(dir, 'a.cedar')}:3`]],
    );
  });

  it('explains a live default deny by the set in force while a reload is pending', async () => {
    // The files change on disk and are not reloaded (no watcher here): the set in force stays.
    writeFileSync(join(dir, 'a.cedar'), `${LIST}\npermit (principal, action, resource) nope;\n`);
    try {
      assert.equal((await playground.live()).in_force, false);
      const edited = { schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] };
      const target = { ...READ_REQUEST.target, other_tenant: true };
      const a = await playground.decide(edited, { ...READ_REQUEST, action: 'users:list', target });
      assert.ok(a.live.ok);
      assert.equal(a.live.explanation.decision, 'deny');
      assert.deepEqual(
        a.live.explanation.unmet?.map((p) => [p.id, p.location, p.condition?.location]),
        [['list', `${join(dir, 'a.cedar')}:1`, `${join(dir, 'a.cedar')}:3`]],
      );
    } finally {
      writeFileSync(join(dir, 'a.cedar'), LIST);
    }
  });

  it('validates the copy: problems at file:line', async () => {
    const broken = {
      schema: SMALL_SCHEMA,
      files: [{ file: 'a.cedar', text: 'permit (principal, action, resource);' }],
    };
    const v = await playground.validate(broken);
    assert.equal(v.ok, false);
    assert.equal(v.problems[0]?.file, 'a.cedar');
    assert.equal(v.problems[0]?.line, 1);
    assert.deepEqual(
      await playground.validate({ schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST }] }),
      { ok: true, problems: [] },
    );
  });

  it('diffs in a worker thread, one at a time', async () => {
    const edited = { schema: SMALL_SCHEMA, files: [{ file: 'a.cedar', text: LIST + READ }] };
    const first = playground.diff(edited, 100_000);
    await assert.rejects(playground.diff(edited, 100_000), code('unavailable'));
    const r = await first;
    assert.ok(r.ok);
    assert.ok(
      r.report.classes.length > 0 && r.report.classes.every((c) => c.action === 'users:read'),
    );
    // The page's view is the CLI's text in sections: each class ends with its example.
    assert.deepEqual(r.view, diffSections(r.report));
    assert.match(r.view.classes[0]?.at(-1) ?? '', /^ {3}example: {3}\{"principal":/);
  });

  it("checks the copy's invariants in a worker thread, one long job at a time", async () => {
    const edited = {
      schema: schemaWithRoles(['admin', 'user']),
      files: [{ file: 'a.cedar', text: ADMINS_MANAGE }],
    };
    // Beside this live set there is no invariants.yaml: the page must send some.
    await assert.rejects(
      playground.check(edited, { users: 2 }),
      (e: unknown) =>
        code('invalid_input')(e) &&
        (e as CedargateError).details?.['field'] === 'invariants' &&
        /no invariants\.yaml beside the live set/.test((e as Error).message),
    );
    const diffing = playground.diff(edited, 100_000);
    await assert.rejects(
      playground.check(edited, { invariants: ONLY_OWNER_MAKES_ADMINS, users: 3 }),
      (e: unknown) =>
        code('unavailable')(e) && /^the policy diff is already running/.test((e as Error).message),
    );
    await diffing;
    writeFileSync(join(dir, 'invariants.yaml'), ONLY_OWNER_MAKES_ADMINS);
    try {
      assert.deepEqual((await playground.live()).invariants, {
        file: 'invariants.yaml',
        text: ONLY_OWNER_MAKES_ADMINS,
      });
      const r = await playground.check(edited, { users: 3 });
      assert.ok(r.ok);
      assert.deepEqual(
        r.report.invariants.filter((i) => !i.holds).map((i) => i.id),
        ['only-owner-makes-admins'],
      );
      assert.match(r.counterexamples['only-owner-makes-admins']?.[1] ?? '', /admins-manage\)$/);
    } finally {
      rmSync(join(dir, 'invariants.yaml'));
    }
  });

  it('builds the request as the request path does: oneself is one entity, the update context', () => {
    const self = authzRequestOf({
      action: 'users:update',
      principal: { roles: ['user'], owner: false },
      target: { roles: ['viewer'], owner: true, same_user: true, other_tenant: false },
      body: { roles: ['admin', 'user'], name_changes: true },
    });
    assert.equal(self.resource.type, 'User');
    assert.ok(self.resource.type === 'User' && self.resource.id === self.principal.id);
    assert.deepEqual(self.context, {
      rolesRequested: ['admin', 'user'],
      rolesAdded: ['admin'],
      rolesRemoved: [],
      nameChanges: true,
      avatarChanges: false,
    });
    const other = authzRequestOf({
      ...READ_REQUEST,
      action: 'users:list',
      target: { ...READ_REQUEST.target, other_tenant: true },
    });
    assert.ok(other.resource.type === 'Tenant' && other.resource.id !== other.principal.tenantId);
  });
});
