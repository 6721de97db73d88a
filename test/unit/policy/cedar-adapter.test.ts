import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compilePolicySet,
  parsePolicyFile,
  validatePolicies,
} from '../../../src/policy/cedar-adapter.js';
import { parseSchema, roleNamesOf } from '../../../src/policy/schema.js';
import type { AuthzRequest, ParsedSchema } from '../../../src/policy/types.js';

const schemaText = `namespace App {
  entity Role enum ["admin", "user"];
  entity Tenant;
  entity User in [Tenant] { tenant: Tenant, roles: Set<Role>, isOwner: Bool };
  action "users:read" appliesTo { principal: User, resource: User, context: {} };
  action "users:update" appliesTo { principal: User, resource: User,
    context: { rolesAdded: Set<Role>, nameChanges: Bool } };
}`;

function schema(): ParsedSchema {
  const parsed = parseSchema(schemaText);
  assert.ok(parsed.ok);
  return parsed.schema;
}

const read = (principalRoles: string[], isOwner = false): AuthzRequest => ({
  principal: { id: 'p', tenantId: 't', roles: principalRoles, isOwner },
  action: 'users:read',
  resource: { type: 'User', id: 'r', tenantId: 't', roles: [], isOwner: false },
  context: {},
});

describe('parseSchema', () => {
  it('finds the entity types, the roles and the entity-valued context attributes', () => {
    const s = schema();
    assert.deepEqual(s.roles, ['admin', 'user']);
    assert.deepEqual(s.types, {
      user: 'App::User',
      tenant: 'App::Tenant',
      role: 'App::Role',
      action: 'App::Action',
    });
    assert.deepEqual(s.entityAttributes['users:update'], {
      rolesAdded: { kind: 'entitySet', type: 'App::Role' },
    });
    assert.deepEqual(roleNamesOf(schemaText), ['admin', 'user']);
  });

  it('points at an unresolved type', () => {
    const text = 'namespace N {\n  entity Role enum ["a"];\n  entity User { t: Tenant };\n}';
    const parsed = parseSchema(text);
    assert.ok(!parsed.ok);
    assert.equal(text.slice(parsed.problems[0]?.index), 'Tenant };\n}');
  });

  it('refuses a schema without User, Tenant and Role', () => {
    const parsed = parseSchema('namespace N { entity User; }');
    assert.ok(!parsed.ok);
    assert.match(parsed.problems[0]?.message ?? '', /Role enum/);
  });
});

describe('parsePolicyFile', () => {
  it('splits a file into policies, with their text, annotations and positions', () => {
    const text = [
      '// a comment; with a semicolon',
      '@id("a")',
      '@notice("semi; colon // not a comment \\" quote")',
      'permit (principal, action, resource);',
      '',
      '  @id("b") forbid (principal, action, resource) when { "x;" == "x;" }; // trailing;',
    ].join('\n');
    const parsed = parsePolicyFile(text);
    assert.ok(parsed.ok);
    assert.equal(parsed.policies.length, 2);
    const [a, b] = parsed.policies;
    assert.equal(a?.annotations['notice'], 'semi; colon // not a comment " quote');
    assert.equal(a?.effect, 'permit');
    assert.equal(text.slice(a?.firstToken).startsWith('@id("a")'), true);
    assert.equal(b?.effect, 'forbid');
    assert.equal(text.slice(b?.firstToken).startsWith('@id("b")'), true);
    assert.equal(
      b?.text.trim(),
      '@id("b") forbid (principal, action, resource) when { "x;" == "x;" };',
    );
  });

  it('points a syntax error at its character, past non-ASCII text', () => {
    const text = '// héllo wörld\n@id("x") permit (principal, action, resource) when { 1 + };';
    const parsed = parsePolicyFile(text);
    assert.ok(!parsed.ok);
    assert.equal(text[parsed.problems[0]?.index ?? -1], '}');
  });

  it('refuses templates', () => {
    const parsed = parsePolicyFile('@id("t") permit (principal == ?principal, action, resource);');
    assert.ok(!parsed.ok);
    assert.match(parsed.problems[0]?.message ?? '', /templates/);
  });
});

describe('validatePolicies', () => {
  it('reports strict errors per policy, as an index into that policy text', () => {
    const text = '// é\n@id("x") permit (principal, action, resource) when { principal.nope };';
    const v = validatePolicies(schemaText, { x: text });
    assert.equal(v.errors.length, 1);
    assert.equal(v.errors[0]?.policyId, 'x');
    assert.equal(text.slice(v.errors[0]?.index, (v.errors[0]?.index ?? 0) + 14), 'principal.nope');
    assert.equal(v.errors[0]?.help, 'did you mean `roles`?');
  });
});

describe('compilePolicySet', () => {
  const meta = {
    'admins-read': { effect: 'permit' as const, notice: null },
    'no-owners': { effect: 'forbid' as const, notice: 'owners are hidden' },
    'no-owners-2': { effect: 'forbid' as const, notice: 'owners are hidden' },
    'overflow-owner': { effect: 'forbid' as const, notice: 'errored' },
  };
  const policies = {
    'admins-read':
      '@id("admins-read") permit (principal, action == App::Action::"users:read", resource) when { principal.roles.contains(App::Role::"admin") };',
    'overflow-owner':
      '@id("overflow-owner") forbid (principal, action, resource) when { principal.isOwner && 9223372036854775807 + 1 > 0 };',
  };
  const compiled = compilePolicySet('engine-test-1', schema(), policies, meta);

  it('allows with the determining permits', () => {
    assert.deepEqual(compiled.authorize(read(['admin'])), {
      allowed: true,
      policies: ['admins-read'],
      notices: [],
      errors: [],
    });
  });

  it('denies with no policies when nothing permits', () => {
    assert.deepEqual(compiled.authorize(read(['user'])), {
      allowed: false,
      policies: [],
      notices: [],
      errors: [],
    });
  });

  it('denies when a forbid errors, although Cedar skips it and allows', () => {
    const d = compiled.authorize(read(['admin'], true));
    assert.equal(d.allowed, false);
    assert.deepEqual(d.policies, ['overflow-owner']);
    assert.deepEqual(d.notices, ['errored']);
    assert.match(d.errors[0] ?? '', /overflow-owner.*overflow/);
  });

  it('leaves a role the schema does not declare out, and lists it (a retired role, security.md 31)', () => {
    // Cedar would refuse the whole request (a failure, which denies): the holder could not even
    // be repaired. Decided as if the role were not held instead.
    const d = compiled.authorize(read(['admin', 'superuser']));
    const without = compiled.authorize(read(['admin']));
    assert.deepEqual(d, { ...without, ignoredRoles: ['superuser'] });
    assert.deepEqual(d.errors, []);
    assert.equal(without.ignoredRoles, undefined);
  });

  it('denies a context the schema does not declare', () => {
    const d = compiled.authorize({ ...read(['admin']), context: { sneaky: true } });
    assert.equal(d.allowed, false);
    assert.match(d.errors[0] ?? '', /sneaky/);
  });

  it('converts role sets in the context to Role entities', () => {
    const set = compilePolicySet(
      'engine-test-2',
      schema(),
      {
        p: '@id("p") permit (principal, action == App::Action::"users:update", resource) when { context.rolesAdded.contains(App::Role::"user") };',
      },
      { p: { effect: 'permit', notice: null } },
    );
    const update = (rolesAdded: string[]): AuthzRequest => ({
      ...read([]),
      action: 'users:update',
      context: { rolesAdded, nameChanges: false },
    });
    assert.equal(set.authorize(update(['user'])).allowed, true);
    assert.equal(set.authorize(update(['admin'])).allowed, false);
    assert.equal(set.authorize(update(['nope'])).allowed, false);
  });

  it('lists each notice once, in policy id order', () => {
    const set = compilePolicySet(
      'engine-test-3',
      schema(),
      {
        'no-owners':
          '@id("no-owners") forbid (principal, action, resource) when { resource.isOwner };',
        'no-owners-2':
          '@id("no-owners-2") forbid (principal, action, resource) when { resource.isOwner };',
        'admins-read': policies['admins-read'],
      },
      meta,
    );
    const owner: AuthzRequest = {
      ...read(['admin']),
      resource: { type: 'User', id: 'r', tenantId: 't', roles: [], isOwner: true },
    };
    assert.deepEqual(set.authorize(owner), {
      allowed: false,
      policies: ['no-owners', 'no-owners-2'],
      notices: ['owners are hidden'],
      errors: [],
    });
  });
});

describe('compilePolicySet: the call shape', () => {
  const admins = {
    'admins-read':
      '@id("admins-read") permit (principal, action == App::Action::"users:read", resource) when { principal.roles.contains(App::Role::"admin") };',
  };
  const meta = { 'admins-read': { effect: 'permit' as const, notice: null } };

  it('leaves tenant entities out, and slices the set per action, when no policy can tell', () => {
    const set = compilePolicySet('shape-test-1', schema(), admins, meta);
    assert.equal(set.callShape?.tenantEntities, false);
    assert.deepEqual(set.callShape?.slices, {
      'users:read': ['admins-read'],
      'users:update': [],
    });
    assert.equal(set.authorize(read(['admin'])).allowed, true);
    // The empty slice of users:update denies as the whole set does: nothing permits.
    assert.deepEqual(set.authorize({ ...read(['admin']), action: 'users:update' }).policies, []);
  });

  it('keeps them for a policy that says `in`, naming it', () => {
    const set = compilePolicySet(
      'shape-test-2',
      schema(),
      {
        ...admins,
        members:
          '@id("members") permit (principal in App::Tenant::"t", action == App::Action::"users:read", resource);',
      },
      { ...meta, members: { effect: 'permit', notice: null } },
    );
    assert.equal(set.callShape?.tenantEntities, true);
    assert.match(set.callShape?.tenantReason ?? '', /members/);
    // The parent edge the policy reads is there: a user of tenant t is a member.
    assert.deepEqual(set.authorize(read(['user'])).policies, ['members']);
  });

  it('keeps them when the schema declares an attribute on Tenant', () => {
    const parsed = parseSchema(
      schemaText.replace('entity Tenant;', 'entity Tenant { name: String };'),
    );
    assert.ok(parsed.ok);
    const fitted = compilePolicySet('shape-test-3', parsed.schema, admins, meta);
    const full = compilePolicySet('shape-test-4', parsed.schema, admins, meta, { form: 'full' });
    assert.equal(fitted.callShape?.tenantEntities, true);
    assert.match(fitted.callShape?.tenantReason ?? '', /Tenant/);
    assert.equal(full.callShape, null);
    // Whatever the full form answers (the sidecar sends tenants without their name), the fitted
    // one answers the same.
    assert.deepEqual(fitted.authorize(read(['admin'])), full.authorize(read(['admin'])));
  });
});

describe('compilePolicySet: action groups', () => {
  it('keeps a policy scoped to a group in the slices of the group members', () => {
    // Every group is itself a declared action: the slicer once took "writes" for a plain action
    // that users:update is not, left the policy out of users:update's slice, and the fitted
    // form denied what the full form allowed.
    const parsed = parseSchema(
      schemaText
        .replace('action "users:update"', 'action "writes";\n  action "users:update" in ["writes"]')
        .replace(/rolesAdded: Set<Role>, nameChanges: Bool/, ''),
    );
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const writers = {
      writers:
        '@id("writers") permit (principal, action in App::Action::"writes", resource) when { principal.roles.contains(App::Role::"admin") };',
    };
    const meta = { writers: { effect: 'permit' as const, notice: null } };
    const fitted = compilePolicySet('group-test-1', parsed.schema, writers, meta);
    const full = compilePolicySet('group-test-2', parsed.schema, writers, meta, { form: 'full' });
    const update: AuthzRequest = { ...read(['admin']), action: 'users:update' };
    assert.deepEqual(full.authorize(update).policies, ['writers']);
    assert.deepEqual(fitted.authorize(update), full.authorize(update));
    assert.deepEqual(fitted.callShape?.slices['users:update'], ['writers']);
  });
});
