import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, shippedPolicies, tempDir } from '../../helpers/process.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function copyOfShipped(): string {
  const t = tempDir('cedargate-cli-');
  cleanups.push(t.remove);
  cpSync(shippedPolicies, t.path, { recursive: true });
  return t.path;
}

const policy = (args: string[], env: Record<string, string> = {}) =>
  runCli(['policy', ...args], env);
const lastLine = (s: string) => s.trimEnd().split('\n').pop();

describe('policy validate', () => {
  it('accepts the shipped policies with a one-line summary', async () => {
    const r = await policy(['validate', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^ok: 13 policies in 4 files valid against .*schema\.cedarschema \(roles: admin, user, viewer; version [0-9a-f]{16}; permits checked against \d+ enumerated requests\)\n$/,
    );
  });

  it('takes DIR from POLICY_DIR', async () => {
    const r = await policy(['validate'], { POLICY_DIR: shippedPolicies });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('prints each problem as file:line:column: message, with help, and exits 1', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'bad.cedar'),
      '@id("bad")\npermit (principal, action, resource)\nwhen { principal.rol };\n',
    );
    const r = await policy(['validate', dir]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^${join(dir, 'bad.cedar')}:3:8: .*attribute \`rol\``));
    assert.equal(lines[1], '  help: did you mean `roles`?');
    assert.equal(lines[2], `1 problem in ${dir}`);
  });

  it('exits 2 on a wrong command line', async () => {
    const r = await policy(['validate', '--nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: cedargate policy validate/);
    assert.equal((await policy(['frobnicate'])).code, 2);
  });
});

describe('policy test', () => {
  it('runs the shipped cases: one line each, then N passed, M failed', async () => {
    const r = await policy(['test', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lastLine(r.stdout) ?? '', /^(\d+) passed, 0 failed$/);
    const passed = Number(/^(\d+)/.exec(lastLine(r.stdout) ?? '')?.[1]);
    assert.ok(passed >= 40);
    assert.equal(lines.filter((l) => l.startsWith('PASS  ')).length, passed);
    for (let rule = 1; rule <= 7; rule++)
      assert.ok(r.stdout.includes(`rule ${rule}:`), `rule ${rule} is tested`);
  });

  it('exits 1 and names the failing cases when a policy changes', async () => {
    const dir = copyOfShipped();
    const admins = readFileSync(join(dir, 'admins.cedar'), 'utf8');
    writeFileSync(
      join(dir, 'admins.cedar'),
      admins.replaceAll('unless { principal.isOwner }', 'unless { true }'),
    );
    const r = await policy(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /FAIL {2}.*rules\.yaml: rule 4: an admin may not grant admin: expected deny, got allow/,
    );
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, [1-9]\d* failed$/);
  });

  it('counts a broken test file as a failure', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'tests', 'zz.yaml'),
      'cases:\n  - { principal: ghost, action: users:list, resource: acme, expect: allow }\n',
    );
    const r = await policy(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL {2}.*zz\.yaml: case "case 1": no user "ghost"/);
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, 1 failed$/);
  });

  it('fails every case when the policies do not load', async () => {
    const dir = copyOfShipped();
    writeFileSync(join(dir, 'bad.cedar'), 'permit (principal, action, resource);\n');
    const r = await policy(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.cedar:1:1: policy has no @id/);
    assert.match(lastLine(r.stdout) ?? '', /^0 passed, [1-9]\d* failed$/);
  });
});

describe('policy fmt', () => {
  it('finds the shipped files formatted', async () => {
    const r = await policy(['fmt', '--check', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '4 files checked, 0 would change\n');
  });

  it('--check lists the files that would change, exits 1 and writes nothing', async () => {
    const dir = copyOfShipped();
    const messy = '// keep\n@id("x")   permit(principal,action,resource);\n';
    writeFileSync(join(dir, 'messy.cedar'), messy);
    const r = await policy(['fmt', '--check', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${join(dir, 'messy.cedar')}\n5 files checked, 1 would change\n`);
    assert.equal(readFileSync(join(dir, 'messy.cedar'), 'utf8'), messy);
  });

  it('rewrites the files, keeping comments', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'messy.cedar'),
      '// keep\n@id("x")   permit(principal,action,resource);\n',
    );
    const r = await policy(['fmt', dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `formatted ${join(dir, 'messy.cedar')}\n5 files checked, 1 changed\n`);
    assert.equal(
      readFileSync(join(dir, 'messy.cedar'), 'utf8'),
      '// keep\n@id("x")\npermit (principal, action, resource);\n',
    );
    assert.equal((await policy(['fmt', '--check', dir])).code, 0);
  });

  it('exits 1 on a file that does not parse', async () => {
    const dir = copyOfShipped();
    writeFileSync(join(dir, 'bad.cedar'), 'permit (');
    const r = await policy(['fmt', '--check', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.cedar: does not parse/);
  });
});

describe('policy explain', () => {
  it('explains a denial from flags: decision, policies with file:line, notices', async () => {
    const r = await policy([
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
    const t = tempDir();
    cleanups.push(t.remove);
    const file = join(t.path, 'req.json');
    writeFileSync(
      file,
      JSON.stringify({
        principal: 'kim',
        action: 'users:list',
        resource: 'initech',
        users: { kim: { tenant: 'initech', roles: [] } },
      }),
    );
    const r = await policy(['explain', shippedPolicies, '--request', file, '--json']);
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
    const r = await policy([
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
    const merged = await policy(['explain', dir, ...args]);
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
    const picked = await policy(['explain', dir, ...args, '--entities', support ?? '']);
    assert.equal(picked.code, 0, picked.stdout + picked.stderr);
    assert.match(picked.stdout, /\(tenant acme, roles \[viewer\]\)/);
  });

  it('exits 2 for a user no entities define', async () => {
    const r = await policy([
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

describe('policy test: bodies the API refuses', () => {
  const refused = `users:
  olivia: { tenant: acme, roles: [admin], owner: true }
  uma: { tenant: acme, roles: [user] }
cases:
  - name: a misspelt field
    principal: olivia
    action: users:update
    resource: uma
    body: { nam: x }
    expect: allow
  - name: a role the schema does not name
    principal: olivia
    action: users:update
    resource: uma
    body: { roles: [superuser] }
    expect: allow
  - name: a role twice
    principal: olivia
    action: users:update
    resource: uma
    body: { roles: [user, user] }
    expect: allow
  - name: a create without name and email
    principal: olivia
    action: users:create
    resource: acme
    body: { roles: [user] }
    expect: allow
`;

  it('fails each case whose body the API refuses, naming the case and the API message', async () => {
    const dir = copyOfShipped();
    writeFileSync(join(dir, 'tests', 'zz.yaml'), refused);
    const r = await policy(['test', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const failures = r.stdout.split('\n').filter((l) => l.startsWith('FAIL  '));
    assert.equal(failures.length, 4, r.stdout);
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: a misspelt field: the API refuses the body \(400 invalid_input\): unknown field\(s\): nam$/m,
    );
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: a role the schema does not name: the API refuses the body \(422 invalid_roles\): /m,
    );
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: a role twice: the API refuses the body \(400 invalid_input\): roles lists "user" twice$/m,
    );
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: a create without name and email: the API refuses the body \(400 invalid_input\): name is required$/m,
    );
    assert.doesNotMatch(r.stdout, /^PASS {2}.*zz\.yaml/m);
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, 4 failed$/);
  });

  it('fails a test file whose user holds a role the schema does not name', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'tests', 'zz.yaml'),
      `users:
  sam: { tenant: acme, roles: [user, superuser] }
cases:
  - { name: lists, principal: sam, action: users:list, resource: acme, expect: allow }
`,
    );
    const r = await policy(['test', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: user "sam": role "superuser" is not in the schema's Role enum \(admin, user, viewer\)$/m,
    );
    assert.doesNotMatch(r.stdout, /^PASS {2}.*zz\.yaml/m);
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, 1 failed$/);
  });
});

describe('policy explain: bodies the API refuses', () => {
  const explain = (body: string) =>
    policy([
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
    const t = tempDir();
    cleanups.push(t.remove);
    const file = join(t.path, 'req.json');
    writeFileSync(
      file,
      JSON.stringify({
        principal: 'kim',
        action: 'users:list',
        resource: 'initech',
        users: { kim: { tenant: 'initech', roles: ['superuser'] } },
      }),
    );
    const r = await policy(['explain', shippedPolicies, '--request', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /user "kim": role "superuser" is not in the schema's Role enum/);
    assert.doesNotMatch(r.stdout, /^decision:/m);
  });
});
