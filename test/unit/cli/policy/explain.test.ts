/**
 * `cedargate policy explain`: from flags or a request file; bodies the API refuses decide nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { temp } = policyDirs('cedargate-cli-explain-');

describe('policy explain', () => {
  it('explains a denial from flags: decision, policies with file:line, notices', async () => {
    const r = await policyCli([
      'explain',
      shippedPolicies,
      '--principal',
      'alice',
      '--action',
      'users:update',
      '--resource',
      'olivia',
      '--body',
      '{"roles":[]}',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^decision: {2}DENY$/m);
    assert.match(
      r.stdout,
      new RegExp(`forbid only-owner-grants-admin  ${join(shippedPolicies, 'admins.cedar')}:\\d+`),
    );
    assert.match(r.stdout, /notice: Only the tenant owner may grant or revoke the admin role\./);
    assert.match(
      r.stdout,
      new RegExp(`forbid owner-roles-fixed  ${join(shippedPolicies, 'owner.cedar')}:2\\b`),
    );
    assert.match(r.stdout, /"rolesRemoved":\["admin"\]/);
    assert.match(r.stdout, /^errors: {4}none$/m);
  });

  it('explains a request file as JSON, with its own users', async () => {
    const file = join(temp(), 'req.json');
    writeFileSync(
      file,
      JSON.stringify({
        principal: 'kim',
        action: 'users:list',
        resource: 'initech',
        users: { kim: { tenant: 'initech', roles: [] } },
      }),
    );
    const r = await policyCli(['explain', shippedPolicies, '--request', file, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const e = JSON.parse(r.stdout) as {
      decision: string;
      policies: { id: string; location: string }[];
    };
    assert.equal(e.decision, 'allow');
    assert.deepEqual(
      e.policies.map((p) => [p.id, p.location]),
      [['tenant-members-list-users', `${join(shippedPolicies, 'tenancy.cedar')}:3`]],
    );
  });

  it('says when nothing permits', async () => {
    const r = await policyCli([
      'explain',
      shippedPolicies,
      '--principal',
      'uma',
      '--action',
      'users:delete',
      '--resource',
      'vic',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no policy permits this request \(default deny\)/);
  });

  it('exits 2 for a user no entities define', async () => {
    const r = await policyCli([
      'explain',
      shippedPolicies,
      '--principal',
      'ghost',
      '--action',
      'users:list',
      '--resource',
      'acme',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no user "ghost"/);
  });
});

describe('policy explain: bodies the API refuses', () => {
  const explain = (body: string) =>
    policyCli([
      'explain',
      shippedPolicies,
      '--principal',
      'olivia',
      '--action',
      'users:update',
      '--resource',
      'uma',
      '--body',
      body,
    ]);

  for (const [body, answer] of [
    ['{"nam":"x"}', /400 invalid_input\): unknown field\(s\): nam/],
    ['{"roles":["superuser"]}', /422 invalid_roles\): /],
    ['{"roles":["user","user"]}', /400 invalid_input\): roles lists "user" twice/],
  ] as const) {
    it(`exits 1 and decides nothing for ${body}`, async () => {
      const r = await explain(body);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^the request: the API refuses the body \(/m);
      assert.match(r.stdout, answer);
      assert.doesNotMatch(r.stdout, /^decision:/m);
    });
  }

  it('exits 1 for a user whose role the schema does not name', async () => {
    const file = join(temp(), 'req.json');
    writeFileSync(
      file,
      JSON.stringify({
        principal: 'kim',
        action: 'users:list',
        resource: 'initech',
        users: { kim: { tenant: 'initech', roles: ['superuser'] } },
      }),
    );
    const r = await policyCli(['explain', shippedPolicies, '--request', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /user "kim": role "superuser" is not in the schema's Role enum/);
    assert.doesNotMatch(r.stdout, /^decision:/m);
  });
});
