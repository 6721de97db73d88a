/**
 * `cedargate policy test` on cases whose body the API refuses: each fails, named with the API's
 * message, never decided as if the body were fine.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastLine, policyCli, policyDirs } from '../../../helpers/policy-cli.js';

const { copyOfShipped } = policyDirs('cedargate-cli-test-');

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
    const r = await policyCli(['test', dir]);
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
    const r = await policyCli(['test', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^FAIL {2}.*zz\.yaml: user "sam": role "superuser" is not in the schema's Role enum \(admin, user, viewer\)$/m,
    );
    assert.doesNotMatch(r.stdout, /^PASS {2}.*zz\.yaml/m);
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, 1 failed$/);
  });
});
