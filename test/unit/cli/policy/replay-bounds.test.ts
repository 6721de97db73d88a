/**
 * Issue 22, Also: `policy replay` on pathological input — a log line of megabytes, more policy
 * versions than it keeps — ends in bounded time with a clear line and exit 2, never a stack trace
 * (before: replay held the whole line and went on).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { REPLAY_LIMITS } from '../../../../src/policy/authoring/replay-input.js';

describe('policy replay on pathological input (issue 22, Also)', () => {
  const dir = policyDirs('cedargate-replay-bounds-').temp();
  const decision = JSON.stringify({
    msg: 'decision',
    request_id: 'r1',
    decision: 'allow',
    policies: ['tenant-members-list-users'],
    policy_version: 'v0',
    request: {
      principal: { id: 'o', tenantId: 't', roles: ['admin'], isOwner: true },
      action: 'users:list',
      resource: { type: 'Tenant', id: 't' },
      context: {},
    },
  });

  it('a line of 2 MiB: exit 2 naming the line and the limit, no stack trace', async () => {
    const log = join(dir, 'huge.log');
    writeFileSync(
      log,
      `${decision}\n{"msg":"decision","x":"${'a'.repeat(2 << 20)}"}\n${decision}\n`,
    );
    const r = await policyCli(['replay', log, '--against', shippedPolicies]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^${log}: line 2 is longer than ${REPLAY_LIMITS.lineBytes} bytes`, 'm'),
    );
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /);
  });

  it('more distinct policy versions than a replay counts: exit 2 naming the line', async () => {
    const log = join(dir, 'versions.log');
    const n = REPLAY_LIMITS.versions;
    const lines = Array.from({ length: n + 1 }, (_, i) =>
      decision.replace('"policy_version":"v0"', `"policy_version":"v${i}"`),
    );
    writeFileSync(log, lines.join('\n'));
    const r = await policyCli(['replay', log, '--against', shippedPolicies]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^${log}: line ${n + 1}: more than ${n} distinct policy_version`, 'm'),
    );
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /);
  });
});
