import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalId,
  isIdShaped,
  newTenantId,
  newUserId,
  parseTenantId,
  parseUserId,
} from '../../../src/common/ids.js';
import { InvalidInputError } from '../../../src/errors.js';

const UPPER = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';

describe('ids', () => {
  it('canonicalizes any case to upper case', () => {
    assert.equal(parseUserId(UPPER.toLowerCase()), UPPER);
    assert.equal(parseUserId('2489e9AD-2ee2-8E00-8ec9-32D5f69181c0'), UPPER);
    assert.equal(parseTenantId(UPPER.toLowerCase()), UPPER);
  });

  it('gives every id, shaped or not, the one canonical spelling parseUserId gives', () => {
    assert.equal(canonicalId(UPPER.toLowerCase()), parseUserId(UPPER.toLowerCase()));
    assert.equal(canonicalId('alice@example'), 'ALICE@EXAMPLE');
    const fresh = newUserId();
    assert.equal(canonicalId(fresh), fresh, 'fresh ids are born canonical');
  });

  it('refuses anything that is not 8-4-4-4-12 hex with 400 invalid_input', () => {
    for (const raw of [
      '',
      'u1',
      '2489E9AD2EE28E008EC932D5F69181C0',
      '{2489E9AD-2EE2-8E00-8EC9-32D5F69181C0}',
      ' 2489E9AD-2EE2-8E00-8EC9-32D5F69181C0',
      '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0\n',
      '2489E9AD-2EE2-8E00-8EC9-32D5F69181CG',
      '..%2f..%2fother-tenant%2fu1',
      '../../x',
    ]) {
      assert.throws(
        () => parseUserId(raw),
        (e: unknown) => e instanceof InvalidInputError && e.code === 'invalid_input',
        JSON.stringify(raw),
      );
      assert.throws(() => parseTenantId(raw), InvalidInputError);
      assert.equal(isIdShaped(raw), false);
    }
  });

  it('names the field in the error details', () => {
    assert.throws(
      () => parseUserId('x'),
      (e: unknown) => e instanceof InvalidInputError && e.details?.['field'] === 'id',
    );
    assert.throws(
      () => parseTenantId('x'),
      (e: unknown) => e instanceof InvalidInputError && e.details?.['field'] === 'tenant_id',
    );
  });

  it('makes fresh canonical ids', () => {
    const a = newUserId();
    const b = newTenantId();
    assert.notEqual(a, newUserId());
    assert.equal(parseUserId(a), a);
    assert.equal(parseTenantId(b), b);
  });
});
