import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadPolicySet } from '../../../../src/policy/policy-set.js';
import {
  forbidsWithoutNotice,
  permitsThatNeverApply,
} from '../../../../src/policy/authoring/policy-warnings.js';
import { shippedPolicies, tempDir } from '../../../helpers/process.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function shippedWith(extra: string): string {
  const t = tempDir('cedargate-warnings-');
  cleanups.push(t.remove);
  cpSync(shippedPolicies, t.path, { recursive: true });
  writeFileSync(join(t.path, 'extra.cedar'), extra);
  return t.path;
}

describe('the shipped set', () => {
  it('gives no warning of either kind', async () => {
    const set = await loadPolicySet(shippedPolicies);
    assert.deepEqual(forbidsWithoutNotice(set), []);
    const reach = permitsThatNeverApply(set);
    assert.deepEqual(reach.warnings, []);
    assert.equal(reach.exhaustive, true);
    assert.ok(reach.decided > 0);
  });
});

describe('forbidsWithoutNotice', () => {
  it('names each forbid without @notice at file:line:column, and no permit', async () => {
    const dir = shippedWith(
      '// a forbid with no reason\n@id("quiet")\nforbid (principal, action == Cedargate::Action::"users:delete", resource);\n',
    );
    assert.deepEqual(forbidsWithoutNotice(await loadPolicySet(dir)), [
      {
        file: join(dir, 'extra.cedar'),
        line: 2,
        column: 1,
        message: 'forbid "quiet" has no @notice: its denials would carry no reason',
      },
    ]);
  });
});

describe('permitsThatNeverApply', () => {
  it('stops at its budget and warns of nothing it has not shown, naming what is unconfirmed', async () => {
    const dir = shippedWith(`@id("owner-without-admin")
permit (principal, action == Cedargate::Action::"users:list", resource)
when { principal.isOwner && !principal.roles.contains(Cedargate::Role::"admin") };
`);
    const set = await loadPolicySet(dir);
    const r = permitsThatNeverApply(set, { budget: 10 });
    assert.equal(r.decided, 10);
    assert.deepEqual(r.warnings, []);
    assert.ok(r.unconfirmed?.includes('owner-without-admin'), String(r.unconfirmed));
    assert.ok(r.planned > 10);
    const full = permitsThatNeverApply(set, { budget: Infinity });
    assert.equal(full.unconfirmed, undefined);
    assert.deepEqual(
      full.warnings.map((w) => w.message.split(' ')[1]),
      ['"owner-without-admin"'],
    );
  });

  it('finds a permit whose condition no request the sidecar builds meets', async () => {
    // The store's invariant: the owner holds admin. So no owner lacks it.
    const dir = shippedWith(`@id("owner-without-admin")
permit (principal, action == Cedargate::Action::"users:list", resource)
when { principal.isOwner && !principal.roles.contains(Cedargate::Role::"admin") };
`);
    const r = permitsThatNeverApply(await loadPolicySet(dir));
    assert.deepEqual(
      r.warnings.map((w) => [w.file, w.line, w.column]),
      [[join(dir, 'extra.cedar'), 1, 1]],
    );
    assert.match(
      r.warnings[0]?.message ?? '',
      /^permit "owner-without-admin" can never apply: it allows no request the sidecar can build, /,
    );
  });

  it('finds a permit that forbids overshadow wherever it is met', async () => {
    // Met by every cross-tenant read, each of which no-cross-tenant-users denies.
    const dir = shippedWith(`@id("read-other-tenants")
permit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)
unless { resource.tenant == principal.tenant };
`);
    const r = permitsThatNeverApply(await loadPolicySet(dir));
    assert.deepEqual(
      r.warnings.map((w) => w.message.split(':')[0]),
      ['permit "read-other-tenants" can never apply'],
    );
  });

  it('does not flag a permit that allows some request, even one another permit allows too', async () => {
    const dir = shippedWith(`@id("owners-read")
permit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)
when { principal.isOwner };
`);
    assert.deepEqual(permitsThatNeverApply(await loadPolicySet(dir)).warnings, []);
  });
});
