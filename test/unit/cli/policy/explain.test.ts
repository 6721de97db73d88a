/**
 * `cedargate policy explain`: from flags or a request file; bodies the API refuses decide nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { temp, copyOfShipped } = policyDirs('cedargate-cli-explain-');

/** `policy explain` of the shipped set, the request given by flags (and `more`). */
const explainFlags = (principal: string, action: string, resource: string, ...more: string[]) =>
  policyCli([
    'explain',
    shippedPolicies,
    ...['--principal', principal, '--action', action, '--resource', resource],
    ...more,
  ]);

/** A request file (as `--request` reads it) in a fresh temp directory. */
function requestFile(request: unknown): string {
  const file = join(temp(), 'req.json');
  writeFileSync(file, JSON.stringify(request));
  return file;
}

describe('policy explain', () => {
  it('explains a denial from flags: decision, policies with file:line, notices', async () => {
    const r = await explainFlags('alice', 'users:update', 'olivia', '--body', '{"roles":[]}');
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
    const file = requestFile({
      principal: 'kim',
      action: 'users:list',
      resource: 'initech',
      users: { kim: { tenant: 'initech', roles: [] } },
    });
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
    const r = await explainFlags('uma', 'users:delete', 'vic');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no policy permits this request \(default deny\)/);
  });

  it('a default deny names the permits whose scope matched and the condition that was false (issue 27)', async () => {
    // A plain user changing another user's roles: no permit holds, no forbid decides.
    const args = ['explain', shippedPolicies, '--principal', 'uma', '--action', 'users:update'];
    const request = [...args, '--resource', 'vic', '--body', '{"roles":["viewer","user"]}'];
    const admins = join(shippedPolicies, 'admins.cedar');
    const self = join(shippedPolicies, 'self-service.cedar');
    const text = await policyCli(request);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /no policy permits this request \(default deny\)/);
    assert.match(text.stdout, /^permits whose scope matched, and the condition that was false:$/m);
    assert.match(
      text.stdout,
      new RegExp(`permit admins-manage-users  ${admins}:18\n +when ${admins}:25 was false: `),
    );
    assert.match(text.stdout, /principal\.isOwner → false/);
    assert.match(
      text.stdout,
      new RegExp(`permit users-edit-own-profile  ${self}:3\n +when ${self}:9 was false: `),
    );
    // Scope not matched (another action): not listed.
    assert.doesNotMatch(text.stdout, /permit admins-create-users/);

    const json = await policyCli([...request, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const e = JSON.parse(json.stdout) as {
      unmet: { id: string; location: string; condition: { location: string } | null }[];
    };
    assert.deepEqual(
      e.unmet.map((p) => [p.id, p.location, p.condition?.location]),
      [
        ['admins-manage-users', `${admins}:18`, `${admins}:25`],
        ['users-edit-own-profile', `${self}:3`, `${self}:9`],
      ],
    );
  });

  it('with test files that disagree on a user: names both files and the field, exit 1 without the usage; --entities picks one file (issue 27)', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'tests', 'support.yaml'),
      `users:
  uma: { tenant: acme, roles: [viewer] }
cases:
  - { name: a viewer lists, principal: uma, action: users:list, resource: acme, expect: allow }
`,
    );
    const args = ['--principal', 'uma', '--action', 'users:list', '--resource', 'acme'];
    const merged = await policyCli(['explain', dir, ...args]);
    assert.equal(merged.code, 1, merged.stdout + merged.stderr);
    assert.doesNotMatch(merged.stdout + merged.stderr, /usage:/);
    const [edges, rules, support] = ['edges', 'rules', 'support'].map((f) =>
      join(dir, 'tests', `${f}.yaml`),
    );
    assert.equal(
      merged.stdout,
      `the entities: ${support}: user "uma" is defined differently in ${edges} and ${support}: roles ["user"] in ${edges}, ["viewer"] in ${support} (give --entities FILE to use one test file's users)\n`,
    );
    void rules;
    const picked = await policyCli(['explain', dir, ...args, '--entities', support ?? '']);
    assert.equal(picked.code, 0, picked.stdout + picked.stderr);
    assert.match(picked.stdout, /\(tenant acme, roles \[viewer\]\)/);
  });

  it('exits 2 for a user no entities define', async () => {
    const r = await explainFlags('ghost', 'users:list', 'acme');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no user "ghost"/);
  });
});

describe('policy explain: bodies the API refuses', () => {
  const explain = (body: string) => explainFlags('olivia', 'users:update', 'uma', '--body', body);

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
    const file = requestFile({
      principal: 'kim',
      action: 'users:list',
      resource: 'initech',
      users: { kim: { tenant: 'initech', roles: ['superuser'] } },
    });
    const r = await policyCli(['explain', shippedPolicies, '--request', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /user "kim": role "superuser" is not in the schema's Role enum/);
    assert.doesNotMatch(r.stdout, /^decision:/m);
  });
});
