import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkCase,
  mergeUsers,
  parseTestFile,
  RefusedBodyError,
  requestOf,
  runSuite,
  selectCase,
  splitTestSpec,
  TestFileError,
  unknownRoleOf,
} from '../../../../src/policy/authoring/test-suite.js';

const ROLES = ['admin', 'user', 'viewer'];

const users = `users:
  olivia: { tenant: acme, roles: [admin], owner: true }
  uma: { tenant: acme, roles: [user], name: Uma, avatar: null }
`;

describe('parseTestFile', () => {
  it('reads users and cases', () => {
    const f = parseTestFile(
      't.yaml',
      `${users}cases:
  - name: grant
    principal: olivia
    action: users:update
    resource: uma
    body: { roles: [admin, user], name: Uma }
    expect: allow
  - principal: uma
    action: users:list
    resource: acme
    expect: deny
    notices: [n]
`,
    );
    assert.deepEqual(f.users.get('olivia'), {
      id: 'olivia',
      tenant: 'acme',
      roles: ['admin'],
      owner: true,
      name: 'olivia',
      avatar: null,
    });
    assert.equal(f.cases.length, 2);
    assert.equal(f.cases[1]?.name, 'case 2');
    assert.deepEqual(f.cases[1]?.notices, ['n']);
  });

  const broken: [string, string, RegExp][] = [
    [
      'unknown key',
      `${users}cases:\n  - { principal: uma, action: users:list, resource: acme, expect: allow, expct: deny }`,
      /unknown key `expct`/,
    ],
    [
      'unknown user',
      `${users}cases:\n  - { principal: bob, action: users:list, resource: acme, expect: allow }`,
      /no user "bob"/,
    ],
    [
      'unknown action',
      `${users}cases:\n  - { principal: uma, action: users:nuke, resource: acme, expect: allow }`,
      /`action` must be one of/,
    ],
    [
      'bad expect',
      `${users}cases:\n  - { principal: uma, action: users:list, resource: acme, expect: yes }`,
      /`expect` must be allow or deny/,
    ],
    ['no cases', users, /`cases` must be a non-empty list/],
    ['duplicate keys', `${users}  uma: { tenant: x }\ncases: []`, /unique|duplicate/i],
    [
      'body and context',
      `${users}cases:\n  - { principal: uma, action: users:update, resource: uma, body: {}, context: {}, expect: allow }`,
      /not both/,
    ],
  ];
  for (const [name, text, message] of broken) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parseTestFile('t.yaml', text),
        (err: unknown) => {
          assert.ok(err instanceof TestFileError);
          assert.match(err.message, /^t\.yaml: /);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('requestOf', () => {
  const f = parseTestFile(
    't.yaml',
    `${users}cases:\n  - { principal: uma, action: users:list, resource: acme, expect: allow }`,
  );

  it('builds the update context from the body, as the sidecar does', () => {
    const r = requestOf(
      {
        principal: 'olivia',
        action: 'users:update',
        resource: 'uma',
        body: { roles: ['admin'], name: 'U' },
      },
      f.users,
      ROLES,
    );
    assert.deepEqual(r.principal, {
      id: 'olivia',
      tenantId: 'acme',
      roles: ['admin'],
      isOwner: true,
    });
    assert.deepEqual(r.resource, {
      type: 'User',
      id: 'uma',
      tenantId: 'acme',
      roles: ['user'],
      isOwner: false,
    });
    assert.deepEqual(r.context, {
      rolesRequested: ['admin'],
      rolesAdded: ['admin'],
      rolesRemoved: ['user'],
      nameChanges: true,
      avatarChanges: false,
    });
  });

  it('acts on the tenant for list and create', () => {
    const r = requestOf(
      {
        principal: 'uma',
        action: 'users:create',
        resource: 'acme',
        body: { name: 'Nu', email: 'nu@acme.test', roles: ['user'] },
      },
      f.users,
      ROLES,
    );
    assert.deepEqual(r.resource, { type: 'Tenant', id: 'acme' });
    assert.deepEqual(r.context, { rolesRequested: ['user'] });
  });

  it('takes a context as given', () => {
    const r = requestOf(
      { principal: 'uma', action: 'users:read', resource: 'uma', context: { x: true } },
      f.users,
      ROLES,
    );
    assert.deepEqual(r.context, { x: true });
  });

  // Each body here used to build a request (and could pass a case): the API answers it 4xx.
  const refused: [
    string,
    'users:update' | 'users:create',
    Record<string, unknown> | undefined,
    string,
    RegExp,
  ][] = [
    ['a misspelt field', 'users:update', { nam: 'x' }, 'invalid_input', /unknown field\(s\): nam/],
    [
      'a role the schema does not name',
      'users:update',
      { roles: ['superuser'] },
      'invalid_roles',
      /superuser/,
    ],
    ['a role twice', 'users:update', { roles: ['user', 'user'] }, 'invalid_input', /"user" twice/],
    ['an empty update', 'users:update', {}, 'invalid_input', /at least one of/],
    ['no body at all', 'users:update', undefined, 'invalid_input', /at least one of/],
    [
      'a create without email',
      'users:create',
      { name: 'N', roles: [] },
      'invalid_input',
      /email is required/,
    ],
    [
      'a create with an unknown role',
      'users:create',
      { name: 'N', email: 'n@acme.test', roles: ['root'] },
      'invalid_roles',
      /root/,
    ],
  ];
  for (const [name, action, body, code, message] of refused) {
    it(`refuses ${name} with the API's own error`, () => {
      const c = {
        principal: 'olivia',
        action,
        resource: action === 'users:create' ? 'acme' : 'uma',
        ...(body === undefined ? {} : { body }),
      };
      assert.throws(
        () => requestOf(c, f.users, ROLES),
        (err: unknown) => {
          assert.ok(err instanceof RefusedBodyError);
          assert.equal(err.refusal.code, code);
          assert.match(err.message, /^the API refuses the body \((400|422) /);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('unknownRoleOf', () => {
  it('names the first user holding a role the schema does not name', () => {
    const f = parseTestFile(
      't.yaml',
      `users:\n  sam: { tenant: acme, roles: [user, root] }\ncases:\n  - { principal: sam, action: users:list, resource: acme, expect: allow }`,
    );
    assert.equal(
      unknownRoleOf(f.users, ROLES),
      'user "sam": role "root" is not in the schema\'s Role enum (admin, user, viewer)',
    );
    assert.equal(unknownRoleOf(f.users, [...ROLES, 'root']), null);
  });
});

describe('checkCase', () => {
  const c = {
    name: 'c',
    principal: 'p',
    action: 'users:read' as const,
    resource: 'r',
    expect: 'deny' as const,
    notices: ['a', 'b'],
  };
  const decision = {
    allowed: false,
    policies: ['x'],
    notices: ['b', 'a'],
    errors: [],
    cached: false,
  };
  it('passes on the same decision and notices, in any order', () => {
    assert.equal(checkCase(c, decision), null);
  });
  it('fails on another decision, other notices or other policies', () => {
    assert.match(checkCase(c, { ...decision, allowed: true }) ?? '', /expected deny, got allow/);
    assert.match(checkCase(c, { ...decision, notices: ['a'] }) ?? '', /expected notices/);
    assert.match(
      checkCase({ ...c, policies: ['y'] }, decision) ?? '',
      /expected policies \["y"\], got \["x"\]/,
    );
  });
});

describe('mergeUsers', () => {
  it('refuses the same user defined differently', () => {
    const a = parseTestFile(
      'a.yaml',
      `${users}cases:\n  - { principal: uma, action: users:list, resource: acme, expect: allow }`,
    );
    const b = parseTestFile(
      'b.yaml',
      `users:\n  uma: { tenant: other }\ncases:\n  - { principal: uma, action: users:list, resource: acme, expect: allow }`,
    );
    assert.equal(mergeUsers([a, a]).size, 2);
    assert.throws(() => mergeUsers([a, b]), {
      name: 'TestFileError',
      message:
        'b.yaml: user "uma" is defined differently in a.yaml and b.yaml: tenant "acme" in a.yaml, "other" in b.yaml',
    });
  });

  it('merges the users of several files by id when they agree, and names the first field that differs', () => {
    const one = (file: string, line: string, who = 'sam') =>
      parseTestFile(
        file,
        `users:\n${line}\ncases:\n  - { principal: ${who}, action: users:list, resource: acme, expect: allow }`,
      );
    const sam = '  sam: { tenant: acme, roles: [support], name: Sam }';
    const other = one('other.yaml', '  ola: { tenant: acme }', 'ola');
    const merged = mergeUsers([one('a.yaml', sam), other, one('b.yaml', sam)]);
    assert.deepEqual([...merged.keys()], ['sam', 'ola']);
    assert.throws(
      () =>
        mergeUsers([
          one('a.yaml', sam),
          other,
          one('c.yaml', '  sam: { tenant: acme, roles: [user], name: Sam }'),
        ]),
      {
        message:
          'c.yaml: user "sam" is defined differently in a.yaml and c.yaml: roles ["support"] in a.yaml, ["user"] in c.yaml',
      },
    );
  });
});

describe('splitTestSpec', () => {
  it('splits FILE.yaml[:CASE] at the first .yaml: (case names hold colons)', () => {
    assert.deepEqual(splitTestSpec('p/tests/rules.yaml'), {
      file: 'p/tests/rules.yaml',
      caseName: null,
    });
    assert.deepEqual(splitTestSpec('p/tests/rules.yaml:rule 4: an admin'), {
      file: 'p/tests/rules.yaml',
      caseName: 'rule 4: an admin',
    });
    assert.deepEqual(splitTestSpec('a.yml:x'), { file: 'a.yml', caseName: 'x' });
    assert.equal(splitTestSpec('policies'), null);
    assert.equal(splitTestSpec('policies/admins.cedar'), null);
  });
});

describe('selectCase and runSuite', () => {
  const f = parseTestFile(
    't.yaml',
    `${users}cases:
  - { name: 'one: list', principal: uma, action: users:list, resource: acme, expect: allow }
  - { name: two, principal: uma, action: users:update, resource: uma, body: { nam: x }, expect: allow }
`,
  );

  it('keeps the one case named, or says which cases there are', () => {
    assert.deepEqual(
      selectCase(f, 'two').cases.map((c) => c.name),
      ['two'],
    );
    assert.throws(
      () => selectCase(f, 'three'),
      /t\.yaml: no case named "three" \(cases: "one: list", "two"\)/,
    );
  });

  it('gives each case its failure and the determining policies of its decision', () => {
    const seen: string[] = [];
    const results = runSuite([f], {
      roles: ROLES,
      decide: (r) => {
        seen.push(r.action);
        return { allowed: true, policies: ['p1'], notices: [], errors: [] };
      },
    });
    assert.deepEqual(seen, ['users:list'], 'a refused body is never decided');
    assert.equal(results.length, 1);
    assert.equal(results[0]?.problem, null);
    const { request, ...first } = results[0]?.cases[0] ?? {};
    assert.deepEqual(first, { name: 'one: list', failure: null, policies: ['p1'] });
    assert.equal(request?.action, 'users:list', 'the request decided, for coverage');
    assert.equal(results[0]?.cases[1]?.policies.length, 0);
    assert.equal(results[0]?.cases[1]?.request, undefined, 'a refused body decides nothing');
    assert.match(results[0]?.cases[1]?.failure ?? '', /the API refuses the body/);
  });

  it('fails a file whose user holds a role the schema does not name, running none of it', () => {
    const results = runSuite([f], {
      roles: ['admin'],
      decide: () => assert.fail('nothing is decided'),
    });
    assert.deepEqual(results[0]?.cases, []);
    assert.match(results[0]?.problem ?? '', /role "user" is not in the schema/);
  });
});
