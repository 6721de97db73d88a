import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diffPolicySets } from '../../../../src/policy/authoring/diff.js';
import type {
  ChangeClass,
  DiffOptions,
  DiffReport,
} from '../../../../src/policy/authoring/diff.js';
import { compileLoadedSet, loadPolicySet } from '../../../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../../../src/policy/policy-set.js';
import { shippedPolicies, tempDir } from '../../../helpers/process.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** A copy of the shipped policies with `edit(file, text)` applied to every file. */
function mutated(edit: (file: string, text: string) => string, extra: Record<string, string> = {}) {
  const t = tempDir('cedargate-diff-');
  cleanups.push(t.remove);
  cpSync(shippedPolicies, t.path, { recursive: true });
  for (const file of [
    'admins.cedar',
    'owner.cedar',
    'self-service.cedar',
    'tenancy.cedar',
    'schema.cedarschema',
  ]) {
    const path = join(t.path, file);
    const text = readFileSync(path, 'utf8');
    const next = edit(file, text);
    writeFileSync(path, next);
  }
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(t.path, file), text);
  return t.path;
}

/** Removes the policy with this `@id` (annotations through its `;`). */
const withoutPolicy = (id: string) => (_file: string, text: string) => {
  const start = text.indexOf(`@id("${id}")`);
  if (start < 0) return text;
  return text.slice(0, start) + text.slice(text.indexOf('};', start) + 2);
};

const replaceIn = (file: string, from: string, to: string) => (f: string, text: string) => {
  if (f !== file) return text;
  assert.ok(text.includes(from), `${file} holds ${from}`);
  return text.replace(from, to);
};

let shipped: LoadedPolicySet;
let slot = 0;

/** Decides `request` afresh with the engine, as the sidecar would, for the set in `dir`. */
async function decideAfresh(dir: string, request: ChangeClass['example']) {
  const set = await loadPolicySet(dir);
  const d = compileLoadedSet(`diff-check-${slot++}`, set).authorize(request);
  return { decision: d.allowed ? 'allow' : 'deny', policies: d.policies, notices: d.notices };
}

/** Runs the diff and re-decides every class's example with both sets. */
async function diffAndCheck(
  candidateDir: string,
  baseDir = shippedPolicies,
  options: DiffOptions = {},
): Promise<DiffReport> {
  const base = baseDir === shippedPolicies ? shipped : await loadPolicySet(baseDir);
  const report = diffPolicySets(base, await loadPolicySet(candidateDir), options);
  for (const c of report.classes) {
    const b = await decideAfresh(baseDir, c.example);
    const a = await decideAfresh(candidateDir, c.example);
    const strip = (s: ChangeClass['before']) => ({
      decision: s.decision,
      policies: s.policies,
      notices: s.notices,
    });
    assert.deepEqual(b, strip(c.before), `before of ${c.summary}`);
    assert.deepEqual(a, strip(c.after), `after of ${c.summary}`);
    assert.ok(c.count <= c.matching, c.summary);
  }
  return report;
}

/** Each class as `action | kind | before → after | principal / resource / context`. */
const shapes = (r: DiffReport) =>
  r.classes
    .map(
      (c) =>
        `${c.action} | ${c.before.decision} ${c.before.policies.join(',')} → ${c.after.decision} ${c.after.policies.join(',')} | ` +
        `${c.description.principal.join(', ')} / ${c.description.resource.join(', ')} / ${c.description.context.join(', ')}`,
    )
    .sort();

before(async () => {
  shipped = await loadPolicySet(shippedPolicies);
});

describe('policy diff', () => {
  it('reports no change for the shipped set against itself, exhaustively', () => {
    const r = diffPolicySets(shipped, shipped);
    assert.deepEqual(r.classes, []);
    assert.equal(r.changed, 0);
    assert.equal(r.exhaustive, true);
    assert.ok(r.requests > 5000, `${r.requests} requests`);
    assert.ok(r.decided < r.requests, 'the interchangeable roles user and viewer were pruned');
    assert.match(r.notes.join('\n'), /roles user, viewer: they are interchangeable/);
  });

  it('a permit removed: reading users is denied, by nothing, for everyone in the tenant', async () => {
    const r = await diffAndCheck(mutated(withoutPolicy('tenant-members-read-users')));
    assert.deepEqual(shapes(r), [
      'users:read | allow tenant-members-read-users → deny  |  / another user of the same tenant / ',
      'users:read | allow tenant-members-read-users → deny  |  / themselves / ',
    ]);
    assert.ok(
      r.classes.every((c) => c.count === c.matching),
      'each description is exact',
    );
  });

  it('a forbid removed: admins may now delete the owner, and denials lose its notice', async () => {
    const r = await diffAndCheck(mutated(withoutPolicy('owner-not-deleted')));
    assert.deepEqual(shapes(r), [
      'users:delete | deny no-cross-tenant-users,owner-not-deleted → deny no-cross-tenant-users |  / a user of another tenant, is the owner / ',
      'users:delete | deny owner-not-deleted → allow admins-manage-users | holds admin / another user of the same tenant, is the owner / ',
      'users:delete | deny owner-not-deleted → allow admins-manage-users | is the owner / themselves / ',
      'users:delete | deny owner-not-deleted → deny  | does not hold admin / another user of the same tenant, is the owner / ',
    ]);
    const kinds = r.classes.map((c) => c.kind).sort();
    assert.deepEqual(kinds, ['decision', 'decision', 'notices', 'notices']);
  });

  it('a role added to a contains: non-owner admins may no longer add or remove viewer', async () => {
    const r = await diffAndCheck(
      mutated(
        replaceIn(
          'admins.cedar',
          'context.rolesAdded.contains(Cedargate::Role::"admin") ||\n  context.rolesRemoved.contains(Cedargate::Role::"admin")',
          'context.rolesAdded.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"]) ||\n  context.rolesRemoved.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"])',
        ),
      ),
    );
    const decisions = r.classes.filter((c) => c.kind === 'decision');
    assert.equal(decisions.length, 1, shapes(r).join('\n'));
    const [c] = decisions as [ChangeClass];
    assert.equal(c.action, 'users:update');
    assert.deepEqual([c.before.decision, c.after.decision], ['allow', 'deny']);
    assert.deepEqual(c.after.policies, ['only-owner-grants-admin']);
    assert.deepEqual(c.description.principal, ['holds admin', 'is not the owner']);
    assert.deepEqual(c.description.resource, [
      'another user of the same tenant',
      'is not the owner',
    ]);
    const ctx = c.example.context as { rolesAdded: string[]; rolesRemoved: string[] };
    assert.ok([...ctx.rolesAdded, ...ctx.rolesRemoved].includes('viewer'));
    assert.ok(
      !r.notes.some((n) => n.includes('interchangeable')),
      'viewer is named now: no pruning',
    );
  });

  it('a rule narrowed to the owner: only the owner may still list users', async () => {
    const r = await diffAndCheck(
      mutated(
        replaceIn(
          'tenancy.cedar',
          'when { principal.tenant == resource };\n\n@id("tenant-members-read-users")',
          'when { principal.tenant == resource && principal.isOwner };\n\n@id("tenant-members-read-users")',
        ),
      ),
    );
    assert.deepEqual(shapes(r), [
      'users:list | allow tenant-members-list-users → deny  | is not the owner / their own tenant / ',
    ]);
    assert.equal(r.classes[0]?.count, 8);
    assert.equal(r.classes[0]?.matching, 8);
  });

  it('ids a policy names join the enumeration as constants of their own', async () => {
    const r = await diffAndCheck(
      mutated((_f, t) => t, {
        'alice.cedar':
          '@id("alice-lists-nothing")\n@notice("Not alice.")\nforbid (\n  principal == Cedargate::User::"alice",\n  action == Cedargate::Action::"users:list",\n  resource\n);\n',
      }),
    );
    const decisions = r.classes.filter((c) => c.kind === 'decision');
    assert.deepEqual(
      decisions.map((c) => [c.description.principal, c.description.resource]),
      [[['is User "alice"'], ['their own tenant']]],
    );
    assert.equal(decisions[0]?.example.principal.id, 'alice');
  });

  it('says which types it cannot enumerate and falls back to boundary values', async () => {
    const edit = replaceIn(
      'schema.cedarschema',
      'action "users:list" appliesTo {\n    principal: User,\n    resource: Tenant,\n    context: {},',
      'action "users:list" appliesTo {\n    principal: User,\n    resource: Tenant,\n    context: { reason: String },',
    );
    const dir = mutated(edit);
    const set = await loadPolicySet(dir);
    const r = diffPolicySets(set, set);
    assert.equal(r.exhaustive, false);
    assert.match(
      r.notes.join('\n'),
      /users:list: context `reason` \(String\) cannot be enumerated; tried "", "a", " " \(not exhaustive\)/,
    );
    assert.deepEqual(r.classes, []);
  });

  it('prunes a large role enum by symmetry and says so', async () => {
    const roles = ['admin', 'user', 'viewer', 'r1'];
    const dir = mutated(
      replaceIn(
        'schema.cedarschema',
        '["admin", "user", "viewer"]',
        JSON.stringify(roles).replaceAll(',', ', '),
      ),
    );
    const set = await loadPolicySet(dir);
    const candidate = await loadPolicySet(mutated(withoutPolicy('owner-not-deleted'), {}));
    // Different enums: a role one schema lacks is left out of the request there (as the sidecar
    // does for a retired role), so only the removed forbid changes anything.
    const across = diffPolicySets(set, candidate, { maxRequests: 1000 });
    assert.equal(across.pruned, true);
    assert.equal(across.expanded, false);
    // r1 is not interchangeable with user and viewer: the candidate's schema lacks it (issue 27).
    assert.match(across.notes.join('\n'), /pruned: no policy names the roles user, viewer,/);
    assert.deepEqual(
      across.schema.map((d) => [d.kind, d.role]),
      [['role-removed', 'r1']],
    );
    assert.match(across.notes.join('\n'), /Role enums differ/);
    const flipped = across.classes.filter(
      (c) => c.before.decision === 'deny' && c.after.decision === 'allow',
    );
    // The removed forbid: admins may now delete the owner.
    assert.ok(
      flipped.some((c) => c.action === 'users:delete' && c.example.resource.type === 'User'),
      JSON.stringify(flipped.map((c) => c.summary)),
    );
    // The enum: where `r1` is gone, taking it away is no role change any more.
    for (const c of flipped.filter((x) => x.action === 'users:update')) {
      assert.ok((c.example.context.rolesRemoved as string[]).includes('r1'), c.summary);
    }
    assert.ok(
      !across.classes.some((c) => c.before.decision === 'allow' && c.after.decision === 'deny'),
    );
  });

  it('decides an 8-role schema with a bounded number of Cedar calls, every request counted', async () => {
    const eight = replaceIn(
      'schema.cedarschema',
      '["admin", "user", "viewer"]',
      '["admin", "user", "viewer", "auditor", "billing", "support", "developer", "operator"]',
    );
    const auditor = {
      'auditor.cedar': `@id("privileged-auditor")
@notice("Only the tenant owner may grant or revoke the auditor role.")
forbid (principal, action == Cedargate::Action::"users:update", resource is Cedargate::User)
when { context.rolesAdded.contains(Cedargate::Role::"auditor") || context.rolesRemoved.contains(Cedargate::Role::"auditor") }
unless { principal.isOwner };
`,
    };
    const baseDir = mutated(eight, auditor);
    // The "role added to a contains" mutation: viewer joins admin among the owner's roles.
    const widen = replaceIn(
      'admins.cedar',
      'context.rolesAdded.contains(Cedargate::Role::"admin") ||\n  context.rolesRemoved.contains(Cedargate::Role::"admin")',
      'context.rolesAdded.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"]) ||\n  context.rolesRemoved.containsAny([Cedargate::Role::"admin", Cedargate::Role::"viewer"])',
    );
    const candidateDir = mutated((f, t) => widen(f, eight(f, t)), auditor);
    let calls = 0;
    const r = await diffAndCheck(candidateDir, baseDir, {
      compile: (slot, set) => {
        const compiled = compileLoadedSet(slot, set);
        return {
          ...compiled,
          authorize: (request) => {
            calls++;
            return compiled.authorize(request);
          },
        };
      },
    });
    assert.equal(calls, r.cedarCalls);
    // Each set decides ~2e8 requests; Cedar is asked once per signature.
    assert.ok(r.requests > 100_000_000, `${r.requests} requests`);
    assert.ok(calls <= 2_000, `${calls} Cedar calls for ${r.decided} representatives`);
    assert.match(
      r.notes.join('\n'),
      /each role is enumerated up to what the policies can tell of it/,
    );
    const decisions = r.classes.filter((c) => c.kind === 'decision');
    assert.equal(decisions.length, 1, shapes(r).join('\n'));
    const [c] = decisions as [ChangeClass];
    assert.deepEqual(
      [c.action, c.before.decision, c.after.decision],
      ['users:update', 'allow', 'deny'],
    );
    assert.deepEqual(c.after.policies, ['only-owner-grants-admin']);
    assert.deepEqual(c.description.principal, ['holds admin', 'is not the owner']);
    const ctx = c.example.context as { rolesAdded: string[]; rolesRemoved: string[] };
    assert.ok([...ctx.rolesAdded, ...ctx.rolesRemoved].includes('viewer'));
  });
});
