import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { authzRequestArb, idRenamingArb, renameIds } from '../../helpers/authz-requests.js';
import {
  abstractionRefusal,
  collectLiterals,
  createRequestAbstraction,
} from '../../../src/policy/request-abstraction.js';
import type { RequestAbstraction } from '../../../src/policy/request-abstraction.js';
import type { CompiledPolicySet } from '../../../src/policy/cedar-adapter.js';
import { compileLoadedSet, loadPolicySet } from '../../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../../src/policy/policy-set.js';
import type { AuthzRequest } from '../../../src/policy/types.js';
import { shippedPolicies, tempDir } from '../../helpers/process.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** A copy of the shipped policies, with extra files and a schema edit. */
function policyDir(extra: Record<string, string>, schemaEdit?: (s: string) => string): string {
  const t = tempDir('cedargate-abstraction-');
  cleanups.push(t.remove);
  cpSync(shippedPolicies, t.path, { recursive: true });
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(t.path, file), text);
  if (schemaEdit !== undefined) {
    const path = join(t.path, 'schema.cedarschema');
    writeFileSync(path, schemaEdit(readFileSync(path, 'utf8')));
  }
  return t.path;
}

// Policies that name ids literally: the abstraction must keep exactly these concrete.
const LITERAL_POLICIES = `
@id("alice-reads-acme")
permit (
  principal == Cedargate::User::"alice",
  action == Cedargate::Action::"users:read",
  resource
)
when { resource.tenant == Cedargate::Tenant::"acme" };

@id("bob-is-fixed")
@notice("bob stays as he is.")
forbid (
  principal,
  action in [Cedargate::Action::"users:update", Cedargate::Action::"users:delete"],
  resource
)
when { resource == Cedargate::User::"bob" };
`;

let set: LoadedPolicySet;
let engine: CompiledPolicySet;
let abstraction: RequestAbstraction;

before(async () => {
  set = await loadPolicySet(policyDir({ 'literals.cedar': LITERAL_POLICIES }));
  engine = compileLoadedSet('abstraction-test', set);
  abstraction = createRequestAbstraction(set);
});

const user = (id: string, tenantId: string, roles: string[] = [], isOwner = false) => ({
  id,
  tenantId,
  roles,
  isOwner,
});

function readRequest(p: string, pt: string, r: string, rt: string): AuthzRequest {
  return {
    principal: user(p, pt, ['user']),
    action: 'users:read',
    resource: { type: 'User', ...user(r, rt, ['viewer']) },
    context: {},
  };
}

describe('collectLiterals', () => {
  it('finds every User and Tenant id the policies name, from their JSON form', () => {
    const literals = collectLiterals(set);
    assert.deepEqual([...literals.users].sort(), ['alice', 'bob']);
    assert.deepEqual([...literals.tenants], ['acme']);
    assert.deepEqual([...literals.roles], ['admin']);
  });

  it('finds none in the shipped policies', async () => {
    const shipped = collectLiterals(await loadPolicySet(shippedPolicies));
    assert.equal(shipped.users.size + shipped.tenants.size, 0);
  });
});

describe('keyOf', () => {
  it('replaces ids no policy names by their equality class', () => {
    const k = (p: string, pt: string, r: string, rt: string) =>
      abstraction.keyOf(readRequest(p, pt, r, rt));
    assert.equal(k('u1', 't1', 'u2', 't1'), k('x', 'y', 'z', 'y'));
    assert.equal(k('u1', 't1', 'u1', 't1'), k('z', 'q', 'z', 'q'));
    assert.notEqual(k('u1', 't1', 'u2', 't1'), k('u1', 't1', 'u1', 't1'), 'same vs other user');
    assert.notEqual(k('u1', 't1', 'u2', 't1'), k('u1', 't1', 'u2', 't2'), 'same vs other tenant');
  });

  it('keeps the ids a policy names concrete', () => {
    const k = (p: string, pt: string, r: string, rt: string) =>
      abstraction.keyOf(readRequest(p, pt, r, rt));
    assert.notEqual(k('alice', 't1', 'u2', 'acme'), k('u1', 't1', 'u2', 'acme'));
    assert.notEqual(k('u1', 't1', 'u2', 'acme'), k('u1', 't1', 'u2', 't2'));
    assert.equal(k('alice', 't1', 'u2', 'acme'), k('alice', 't9', 'u7', 'acme'));
    // and a literal decides differently from an id no policy names, which is why
    const del = (r: string): AuthzRequest => ({
      principal: user('u1', 't1', ['admin']),
      action: 'users:delete',
      resource: { type: 'User', ...user(r, 't1', ['user']) },
      context: {},
    });
    assert.notEqual(abstraction.keyOf(del('bob')), abstraction.keyOf(del('u2')));
    assert.deepEqual(engine.authorize(del('bob')).policies, ['bob-is-fixed']);
    assert.equal(engine.authorize(del('u2')).allowed, true);
  });

  it('keys a role set whatever its order and repeats, and tells different sets apart', () => {
    const upd = (pRoles: string[], rRoles: string[], requested: string[]): AuthzRequest => ({
      principal: user('u1', 't1', pRoles),
      action: 'users:update',
      resource: { type: 'User', ...user('u2', 't1', rRoles) },
      context: { rolesRequested: requested, nameChanges: false },
    });
    const k = (...a: Parameters<typeof upd>) => abstraction.keyOf(upd(...a));
    assert.equal(
      k(['user', 'admin'], ['viewer'], []),
      k(['admin', 'user', 'admin'], ['viewer'], []),
    );
    assert.equal(
      k([], [], ['viewer', 'user', 'admin']),
      k([], [], ['admin', 'user', 'viewer', 'user']),
    );
    assert.notEqual(k(['admin'], ['user'], []), k(['user'], ['admin'], []), 'whose roles');
    assert.notEqual(k(['admin'], [], ['user']), k(['admin', 'user'], [], []), 'which slot');
    assert.notEqual(k([], [], ['user']), k([], [], ['user', 'viewer']));
    // The context in another key order is the same context.
    const reordered = upd([], [], ['user']);
    reordered.context = { nameChanges: false, rolesRequested: ['user'] };
    assert.equal(abstraction.keyOf(reordered), k([], [], ['user']));
  });

  it("cannot be fooled by a literal id holding the key's own delimiters", () => {
    const odd = createRequestAbstraction(set, {
      users: new Set(['a|0|0']),
      tenants: new Set(),
      roles: new Set(),
    });
    const k = (p: string) => odd.keyOf(readRequest(p, 't1', 'u2', 't1'));
    assert.notEqual(k('a|0|0'), k('u1'));
    assert.notEqual(k('a|0|0'), k('alice'));
  });

  it('is a compact string', () => {
    const key = abstraction.keyOf(readRequest('u1', 't1', 'u2', 't1')) ?? '';
    assert.ok(key.length < 120, key);
  });
});

describe('abstractionRefusal', () => {
  it('accepts the shipped schema', () => {
    assert.equal(abstraction.refusal, null);
  });

  const cases: [string, (s: string) => string, RegExp][] = [
    [
      'a String attribute on User (a policy could read more than equality)',
      (s) => s.replace('isOwner: Bool,', 'isOwner: Bool,\n    email: String,'),
      /User attribute `email` \(String\)/,
    ],
    [
      'an entity attribute on User (an id the key does not classify)',
      (s) => s.replace('isOwner: Bool,', 'isOwner: Bool,\n    manager: User,'),
      /User attribute `manager` \(Cedargate::User\)/,
    ],
    [
      'an attribute on Tenant',
      (s) => s.replace('entity Tenant;', 'entity Tenant { plan: Long };'),
      /Tenant attribute `plan` \(Long\)/,
    ],
    [
      'a User in a context',
      (s) => s.replace('avatarChanges: Bool,', 'avatarChanges: Bool,\n      delegate: Set<User>,'),
      /context of users:update holds an entity id \(`delegate`: Cedargate::User\)/,
    ],
    [
      'tags on User',
      (s) => s.replace('isOwner: Bool,\n  };', 'isOwner: Bool,\n  } tags String;'),
      /tags/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    it(`refuses ${name}, and keyOf answers undefined`, async () => {
      const edited = await loadPolicySet(policyDir({}, edit));
      assert.match(abstractionRefusal(edited.schema) ?? '', message);
      const a = createRequestAbstraction(edited);
      assert.equal(a.keyOf(readRequest('u1', 't1', 'u2', 't1')), undefined);
    });
  }
});

// --- the differential property ---------------------------------------------------------------

const USER_IDS = ['u1', 'u2', 'u3', 'alice', 'bob'];
const TENANT_IDS = ['t1', 't2', 'acme'];
const ROLES = ['admin', 'user', 'viewer'];
const requestArb = authzRequestArb({ userIds: USER_IDS, tenantIds: TENANT_IDS, roles: ROLES });
/** Ids a renaming may send others to, besides the pools' own. */
const IMAGES = ['r0', 'r1', 'r2', 'r3', 'r4'];

describe('the abstraction against Cedar (property)', () => {
  it('a consistent renaming of ids no policy names keeps the key, and a fresh Cedar call agrees', () => {
    const literals = collectLiterals(set);
    fc.assert(
      fc.property(
        requestArb,
        idRenamingArb(USER_IDS, literals.users, [...IMAGES, ...USER_IDS]),
        idRenamingArb(TENANT_IDS, literals.tenants, [...IMAGES, ...TENANT_IDS]),
        (request, users, tenants) => {
          const renamed = renameIds(request, users, tenants);
          assert.equal(abstraction.keyOf(renamed), abstraction.keyOf(request));
          const a = engine.authorize(request);
          const b = engine.authorize(renamed);
          assert.deepEqual(
            [b.allowed, b.policies, b.notices],
            [a.allowed, a.policies, a.notices],
            JSON.stringify({ request, renamed }),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('two requests with the same key get the same decision', () => {
    const byKey = new Map<string, { request: AuthzRequest; answer: string }>();
    fc.assert(
      fc.property(requestArb, (request) => {
        const key = abstraction.keyOf(request);
        assert.ok(key !== undefined);
        const d = engine.authorize(request);
        const answer = JSON.stringify([d.allowed, d.policies, d.notices]);
        const seen = byKey.get(key);
        if (seen === undefined) byKey.set(key, { request, answer });
        else assert.equal(answer, seen.answer, JSON.stringify([seen.request, request]));
      }),
      { numRuns: 600 },
    );
  });
});
