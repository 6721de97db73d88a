/**
 * The answer check of `npm run bench -- --peers`: before a peer is timed, its status for each of
 * the fixed requests must be cedargate's (or the one substitute that peer is known to give for
 * it); anything else keeps the peer out of the timing. The peers themselves run in
 * test/unit/bench/run.test.ts when installed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRIVILEGED_ROLES } from '../../../bench/dozen-roles.js';
import {
  differingEntries,
  permissionEntries,
  writeDozenCerbosPolicies,
} from '../../../bench/peer-groups.js';
import { ACCEPTED_INSTEAD, compareAnswers, PEER_CHECKS } from '../../../bench/peers.js';

const checks = [{ label: 'read' }, { label: 'deny' }, { label: 'no credential' }];

describe('compareAnswers', () => {
  it('finds nothing when every status is the reference’s', () => {
    assert.deepEqual(compareAnswers(checks, [200, 403, 401], [200, 403, 401]), []);
  });

  it('names each request whose status differs, with both statuses', () => {
    assert.deepEqual(compareAnswers(checks, [200, 403, 401], [200, 200, 500]), [
      { label: 'deny', expected: 403, got: 200 },
      { label: 'no credential', expected: 401, got: 500 },
    ]);
  });

  it('counts a missing answer as a mismatch', () => {
    assert.deepEqual(compareAnswers(checks, [200, 403, 401], [200, 403]), [
      { label: 'no credential', expected: 401, got: undefined },
    ]);
  });

  it('accepts a listed substitute only in place of the status it stands for', () => {
    const accepted = ACCEPTED_INSTEAD['cedar-express'];
    assert.deepEqual(accepted, { 403: [401] });
    // The Cedar middleware denies with 401 where cedargate answers 403…
    assert.deepEqual(compareAnswers(checks, [200, 403, 401], [200, 401, 401], accepted), []);
    // …but a 401 (or a 403) where cedargate allowed is still a different answer.
    assert.deepEqual(compareAnswers(checks, [200, 403, 401], [401, 403, 403], accepted), [
      { label: 'read', expected: 200, got: 401 },
      { label: 'no credential', expected: 401, got: 403 },
    ]);
  });

  it('refuses a reference shorter than the checks (it would compare nothing)', () => {
    assert.throws(() => compareAnswers(checks, [200], [200, 403, 401]), /no reference answer/);
  });
});

describe('PEER_CHECKS', () => {
  it('asks each shipped rule something, allowed and denied, with unique labels', () => {
    const labels = PEER_CHECKS.map((c) => c.label);
    assert.equal(new Set(labels).size, labels.length);
    const puts = PEER_CHECKS.filter((c) => c.method === 'PUT');
    // Rule 4 (only the owner grants admin) both ways, rule 5 (own roles), rule 6 (owner's roles).
    assert.ok(puts.some((c) => c.actor === 'owner' && JSON.stringify(c.body).includes('admin')));
    assert.ok(puts.some((c) => c.actor === 'admin' && JSON.stringify(c.body).includes('"admin"')));
    assert.ok(puts.some((c) => c.actor === c.target && c.body?.roles !== undefined));
    assert.ok(puts.some((c) => c.target === 'owner' && c.actor !== 'owner'));
    assert.ok(PEER_CHECKS.some((c) => c.actor === 'none'));
    assert.ok(PEER_CHECKS.some((c) => c.target === 'ghost'));
  });
});

describe('the peers’ policy groups (issue 25 item 4)', () => {
  it('widens the Cerbos admin rule to the dozen-role set’s privileged roles', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cedargate-peers-cerbos-'));
    try {
      writeDozenCerbosPolicies(dir);
      const text = readFileSync(join(dir, 'user.yaml'), 'utf8');
      for (const role of ['admin', ...PRIVILEGED_ROLES])
        assert.ok(text.includes(`'${role}'`), role);
      assert.match(text, /R\.attr\.rolesAdded\.exists\(r, r in \[/);
      assert.doesNotMatch(text, /'admin' in R\.attr\.rolesAdded/);
      // A policy without the rule is refused, never widened silently.
      writeFileSync(join(dir, 'user.yaml'), 'rules: []\n');
      assert.throws(() => writeDozenCerbosPolicies(join(dir, 'out'), dir), /no .* rule to widen/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compares permissions answers entry by entry, over the entries the peer answers', () => {
    const ours = permissionEntries({
      tenant_id: 't',
      actions: { read: { allowed: true }, delete: { allowed: false, notices: ['no'] } },
      roles: { add: { viewer: { allowed: true } }, remove: { user: { allowed: false } } },
    });
    assert.deepEqual(ours, {
      'actions.read': true,
      'actions.delete': false,
      'roles.add.viewer': true,
      'roles.remove.user': false,
    });
    const theirs = { 'actions.read': true, 'roles.add.viewer': false, 'roles.remove.user': false };
    assert.deepEqual(differingEntries(ours, theirs), ['roles.add.viewer']);
    assert.deepEqual(differingEntries(ours, { 'actions.read': true }), []);
    assert.deepEqual(differingEntries(ours, { 'roles.add.admin': true }), ['roles.add.admin']);
    assert.deepEqual(differingEntries(ours, {}), ['(no entries)']);
  });
});
