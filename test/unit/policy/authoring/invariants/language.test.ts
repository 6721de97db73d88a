/** The invariants language: what it reads, and every refusal with its file:line. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvariantFileError,
  parseInvariants,
} from '../../../../../src/policy/authoring/invariants/language.js';

const ROLES = ['admin', 'user', 'viewer'];
const parse = (text: string) => parseInvariants('inv.yaml', text, ROLES);

describe('invariants language', () => {
  it('reads the issue example into role masks, checks and restrictions', () => {
    const spec = parse(`invariants:
  - id: owner-keeps-admin
    always: { user: owner, has: admin }
  - id: only-owner-makes-admins
    never: { request: { by: { not: owner }, adds: admin } }
  - id: some-admin
    always: { count: { has: admin }, at_least: 1 }
  - id: viewers-stay-read-only
    never: { reach: { user: { started_as: [viewer] }, has_any: [admin, user] }, by: { not: owner } }
  - id: no-deleting-admins
    never: { request: { deletes: { has: admin } } }
start: { others: [[user], [viewer], []] }
`);
    assert.deepEqual(
      spec.invariants.map((i) => [i.id, i.line, i.kind, i.check.type]),
      [
        ['owner-keeps-admin', 2, 'always', 'users'],
        ['only-owner-makes-admins', 4, 'never', 'request'],
        ['some-admin', 6, 'always', 'count'],
        ['viewers-stay-read-only', 8, 'never', 'users'],
        ['no-deleting-admins', 10, 'never', 'request'],
      ],
    );
    assert.deepEqual(spec.invariants[0]?.check, {
      type: 'users',
      domain: { kind: 'owner' },
      cond: { kind: 'has', roles: 1 },
    });
    assert.deepEqual(spec.invariants[3]?.by, { kind: 'not', of: { kind: 'owner' } });
    assert.deepEqual(spec.invariants[3]?.check, {
      type: 'users',
      domain: { kind: 'started_as', roles: 4 },
      cond: { kind: 'has_any', roles: 3 },
    });
    assert.deepEqual(spec.invariants[4]?.check, {
      type: 'request',
      match: {
        by: { kind: 'any' },
        on: { kind: 'has', roles: 1 },
        action: 'users:delete',
        adds: 0,
        removes: 0,
      },
    });
    assert.deepEqual(spec.start, { owner: null, others: [2, 4, 0] });
    assert.deepEqual(spec.startSets, [4]);
  });

  const refusals: [string, string, number, RegExp][] = [
    [
      'a syntax error',
      'invariants:\n  - id: x\n    always: { user: owner, has: [admin }\n',
      3,
      /.+/,
    ],
    ['no invariants list', 'start: {}\n', 1, /no "invariants" list/],
    ['an unknown top-level key', 'invariants: []\nstrat: {}\n', 2, /no key "strat"/],
    [
      'a role the schema lacks',
      'invariants:\n  - id: x\n    always: { user: owner, has: root }\n',
      3,
      /"root" is not a role of the schema \(admin, user, viewer\)/,
    ],
    [
      'both always and never',
      'invariants:\n  - id: x\n    always: { has: admin }\n    never: { has: admin }\n',
      2,
      /exactly one of always, never/,
    ],
    ['an invariant without id', 'invariants:\n  - always: { has: admin }\n', 2, /needs an id/],
    [
      'a duplicate id',
      'invariants:\n  - id: x\n    always: { has: admin }\n  - id: x\n    always: { has: user }\n',
      4,
      /used twice/,
    ],
    [
      'a request with always',
      'invariants:\n  - id: x\n    always:\n      request: { adds: admin }\n',
      4,
      /written with never/,
    ],
    [
      'a count without bounds',
      'invariants:\n  - id: x\n    always: { count: { has: admin } }\n',
      3,
      /needs at_least or at_most/,
    ],
    [
      'a negative bound',
      'invariants:\n  - id: x\n    always: { count: { has: admin }, at_least: -1 }\n',
      3,
      /whole number/,
    ],
    [
      'a users check with no condition',
      'invariants:\n  - id: x\n    always: { user: owner }\n',
      3,
      /not what of them/,
    ],
    [
      'a bad selector word',
      'invariants:\n  - id: x\n    never:\n      request: { by: nobody }\n',
      4,
      /must be owner, any, or a mapping/,
    ],
    [
      'deletes with adds',
      'invariants:\n  - id: x\n    never:\n      request: { deletes: any, adds: admin }\n',
      4,
      /deletes is a request of its own/,
    ],
    [
      'removes on a create',
      'invariants:\n  - id: x\n    never:\n      request: { action: users:create, removes: admin }\n',
      4,
      /users:update only/,
    ],
    [
      'an unknown action',
      'invariants:\n  - id: x\n    never:\n      request: { action: users:read }\n',
      4,
      /must be one of users:update/,
    ],
    [
      'a start others entry that is not a list',
      'invariants: []\nstart:\n  others: [admin]\n',
      3,
      /list of roles/,
    ],
    ['a duplicate key', 'invariants: []\ninvariants: []\n', 2, /.+/],
  ];
  for (const [what, text, line, message] of refusals) {
    it(`refuses ${what} at its line`, () => {
      assert.throws(
        () => parse(text),
        (err: unknown) =>
          err instanceof InvariantFileError &&
          err.line === line &&
          err.message.startsWith(`inv.yaml:${line}: `) &&
          message.test(err.message),
      );
    });
  }
});
