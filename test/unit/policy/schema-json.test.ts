import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSchema } from '../../../src/policy/schema.js';
import { SchemaJsonError, toSchemaJson } from '../../../src/policy/schema-json.js';

describe('toSchemaJson', () => {
  it('reads entity types, enums, tags, optional attributes, action groups and contexts', () => {
    const parsed = parseSchema(`namespace App {
      entity Role enum ["a", "b"];
      entity Tenant;
      entity User in [Tenant] { tenant: Tenant, nick?: String } tags String;
      action "group";
      action "read" in ["group"] appliesTo { principal: User, resource: [User, Tenant],
        context: { roles: Set<Role>, flag?: Bool } };
    }`);
    assert.ok(parsed.ok);
    const app = parsed.schema.json['App'];
    assert.deepEqual(app?.entityTypes['Role'], { kind: 'enum', members: ['a', 'b'] });
    assert.deepEqual(app?.entityTypes['User'], {
      kind: 'standard',
      memberOfTypes: ['App::Tenant'],
      attributes: {
        nick: { type: { kind: 'String' }, required: false },
        tenant: { type: { kind: 'Entity', name: 'App::Tenant' }, required: true },
      },
      tags: { kind: 'String' },
    });
    assert.deepEqual(app?.actions['read'], {
      memberOf: [{ type: 'App::Action', id: 'group' }],
      appliesTo: {
        principalTypes: ['App::User'],
        resourceTypes: ['App::User', 'App::Tenant'],
        context: {
          flag: { type: { kind: 'Bool' }, required: false },
          roles: {
            type: { kind: 'Set', element: { kind: 'Entity', name: 'App::Role' } },
            required: true,
          },
        },
      },
    });
  });

  it('refuses what is not a schema, naming where', () => {
    assert.throws(
      () => toSchemaJson({ App: { entityTypes: { User: { memberOfTypes: 'Tenant' } } } }),
      (err: unknown) =>
        err instanceof SchemaJsonError &&
        /at App\.User\.memberOfTypes: expected a list/.test(err.message),
    );
    assert.throws(() => toSchemaJson([]), /at schema: expected an object/);
  });
});
