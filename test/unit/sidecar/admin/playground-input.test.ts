/**
 * What a playground page may send: each field checked, a 400 `invalid_input` naming the field
 * for anything else, before any engine sees it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CedargateError } from '../../../../src/errors.js';
import {
  parseCheckQuestion,
  parsePlaygroundRequest,
  parsePlaygroundSources,
} from '../../../../src/sidecar/admin/playground-input.js';

const code = (c: string) => (e: unknown) => e instanceof CedargateError && e.code === c;
/** An `invalid_input` naming `field`, its message starting with it. */
const invalidField = (field: string, message: RegExp) => (e: unknown) =>
  code('invalid_input')(e) &&
  (e as CedargateError).details?.['field'] === field &&
  message.test((e as Error).message);

describe('playground input', () => {
  it('refuses what a page must not send, naming the field', () => {
    assert.throws(() => parsePlaygroundRequest({ action: 'users:fly' }), code('invalid_input'));
    assert.throws(
      () => parsePlaygroundRequest({ action: 'users:read', principal: { roles: 'admin' } }),
      code('invalid_input'),
    );
    assert.throws(() => parsePlaygroundSources({ schema: 1, files: [] }), code('invalid_input'));
    assert.throws(
      () => parsePlaygroundSources({ schema: '', files: [{ file: '../x.cedar', text: '' }] }),
      code('invalid_input'),
    );
    assert.throws(
      () =>
        parsePlaygroundSources({
          schema: '',
          files: [
            { file: 'a.cedar', text: '' },
            { file: 'a.cedar', text: '' },
          ],
        }),
      code('invalid_input'),
    );
    assert.deepEqual(parsePlaygroundRequest({ action: 'users:read' }), {
      action: 'users:read',
      principal: { roles: [], owner: false },
      target: { roles: [], owner: false, same_user: false, other_tenant: false },
      body: {},
    });
  });

  it("reads a check's invariants and users, refusing anything else by name", () => {
    assert.deepEqual(parseCheckQuestion({}), {});
    assert.deepEqual(parseCheckQuestion({ invariants: 'invariants: []', users: 3 }), {
      invariants: 'invariants: []',
      users: 3,
    });
    for (const users of [0, 7, 2.5, '3', null]) {
      assert.throws(
        () => parseCheckQuestion({ users }),
        invalidField('users', /^users must be an integer from 1 to 6$/),
        String(users),
      );
    }
    assert.throws(
      () => parseCheckQuestion({ invariants: { id: 'x' } }),
      invalidField('invariants', /^invariants must be the YAML text of an invariants file$/),
    );
  });
});
