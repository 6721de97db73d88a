/**
 * The list query's one set of rules (page limits 1..200, default 50; the cursor's spelling),
 * which the sidecar's route table, the backend's list route and both stores all use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_PAGE_LIMIT,
  MAX_PAGE_LIMIT,
  checkPageLimit,
  isCursorShaped,
  parseCursor,
  parseLimit,
} from '../../../src/common/list-query.js';
import { CedargateError } from '../../../src/errors.js';

function invalid(parameter: string) {
  return (e: unknown) =>
    e instanceof CedargateError &&
    e.status === 400 &&
    e.code === 'invalid_input' &&
    e.details?.['parameter'] === parameter;
}

describe('list query: limit', () => {
  it('is 50 when absent, and 1..200 as written', () => {
    assert.equal(DEFAULT_PAGE_LIMIT, 50);
    assert.equal(MAX_PAGE_LIMIT, 200);
    assert.equal(parseLimit(undefined), 50);
    assert.equal(parseLimit('1'), 1);
    assert.equal(parseLimit('200'), 200);
  });

  it('refuses every other spelling with 400 invalid_input naming the parameter', () => {
    for (const raw of [
      '0',
      '201',
      '999',
      '1000',
      '',
      'abc',
      '1.5',
      '-1',
      '+1',
      '050',
      '1e2',
      ' 1',
    ]) {
      assert.throws(() => parseLimit(raw), invalid('limit'), JSON.stringify(raw));
    }
    assert.throws(() => parseLimit(['1', '2']), invalid('limit'));
  });

  it('is the stores check as well: whole numbers in the page limits only', () => {
    assert.equal(checkPageLimit(1), 1);
    assert.equal(checkPageLimit(200), 200);
    for (const n of [0, 201, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => checkPageLimit(n), invalid('limit'), String(n));
    }
  });
});

describe('list query: cursor', () => {
  it('is undefined when absent, and kept as sent when spelled as a cursor', () => {
    assert.equal(parseCursor(undefined), undefined);
    assert.equal(
      parseCursor('MjAyNi0wMS0wMVQwMDowMDowMC4wMDBafEFB'),
      'MjAyNi0wMS0wMVQwMDowMDowMC4wMDBafEFB',
    );
    assert.ok(isCursorShaped('a-b_c'));
  });

  it('refuses what this API never issues with 400 invalid_input naming the parameter', () => {
    for (const raw of ['', '../../x', 'a b', 'a=', 'a.b', 'x'.repeat(129), 'é']) {
      assert.throws(() => parseCursor(raw), invalid('cursor'), JSON.stringify(raw));
    }
    assert.throws(() => parseCursor(['a', 'b']), invalid('cursor'));
  });
});
