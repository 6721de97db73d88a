/**
 * `policy replay` of a log written under a set whose schema names a role the candidate's does
 * not (issue 27 item 1): a logged `POST {"roles":["support"]}` is one the candidate's API
 * refuses (422), not a decision it allows with the role dropped.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const dirs = policyDirs('cedargate-replay-schema-');

const ADMIN = { id: 'a', tenantId: 't', roles: ['admin'], isOwner: false };
const createLine = (id: string, roles: string[]) =>
  JSON.stringify({
    level: 30,
    msg: 'decision',
    request_id: id,
    decision: 'allow',
    policies: ['admins-create-users'],
    policy_version: 'v-support',
    request: {
      principal: ADMIN,
      action: 'users:create',
      resource: { type: 'Tenant', id: 't' },
      context: { rolesRequested: roles },
    },
  });

describe('policy replay: a role the candidate schema lacks', () => {
  it('a logged POST {"roles":["support"]} is refused (422) by the candidate API, not replayed as allowed', async () => {
    const log = join(dirs.temp(), 'decisions.log');
    writeFileSync(
      log,
      [createLine('rid-support', ['support']), createLine('rid-user', ['user'])].join('\n') + '\n',
    );
    const r = await policyCli(['replay', log, '--against', shippedPolicies]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /role `support` is not in the candidate's schema: 1 logged request asking for it would be refused \(422, invalid_roles\) by its API, not decided \(e\.g\. rid-support\)/,
    );
    assert.match(r.stdout, /^no logged request changes its answer$/m);

    const json = await policyCli(['replay', log, '--against', shippedPolicies, '--json']);
    const report = JSON.parse(json.stdout) as {
      replayed: number;
      changed: number;
      refused: { count: number; roles: Record<string, { count: number; firstRequestId: string }> };
    };
    assert.equal(report.refused.count, 1);
    assert.deepEqual(report.refused.roles, {
      support: { count: 1, firstRequestId: 'rid-support' },
    });
    assert.equal(report.changed, 0);
  });
});
