import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareStreamIds,
  decodeChangeEvent,
  eventStreamKey,
  isStreamId,
  streamIdTimeMs,
} from '../../../src/common/change-events.js';

const T = 'aaaaaaaa-0000-4000-8000-000000000001';
const U = '2489e9ad-2ee2-8e00-8ec9-32d5f69181c0';

describe('change events', () => {
  it('the stream key sits under the prefix', () => {
    assert.equal(eventStreamKey('x:'), 'x:events');
    assert.equal(eventStreamKey(), 'cedargate:events');
  });

  it('a user event decodes with canonical ids; a delete is version 0', () => {
    assert.deepEqual(decodeChangeEvent(['kind', 'user', 'tenant', T, 'user', U, 'version', '7']), {
      kind: 'user',
      tenantId: T.toUpperCase(),
      userId: U.toUpperCase(),
      version: 7,
    });
    assert.equal(
      decodeChangeEvent(['kind', 'user', 'tenant', T, 'user', U, 'version', '0'])?.kind,
      'user',
    );
  });

  it('malformed entries are refused, never turned into an invalidation of something else', () => {
    for (const bad of [
      [],
      ['kind', 'user'],
      ['kind', 'user', 'tenant', '../x', 'user', U, 'version', '1'],
      ['kind', 'user', 'tenant', T, 'user', `${U}/x`, 'version', '1'],
      ['kind', 'user', 'tenant', T, 'user', U, 'version', 'one'],
      ['kind', 'revoke'],
      ['kind', 'other', 'tenant', T, 'user', U, 'version', '1'],
    ]) {
      assert.equal(decodeChangeEvent(bad), undefined, JSON.stringify(bad));
    }
    assert.deepEqual(decodeChangeEvent(['kind', 'revoke', 'revocation', '{}']), {
      kind: 'revoke',
      revocation: '{}',
    });
  });

  it('stream ids order by time, then sequence; not-ids are refused', () => {
    assert.ok(compareStreamIds('5-1', '5-0') > 0);
    assert.ok(compareStreamIds('4-9', '5-0') < 0);
    assert.ok(compareStreamIds('10-0', '9-99') > 0);
    assert.equal(compareStreamIds('7-3', '7-3'), 0);
    assert.equal(streamIdTimeMs('1700000000000-4'), 1_700_000_000_000);
    for (const id of ['1', '1-', 'a-1', '1-1-1', '$', '']) assert.equal(isStreamId(id), false, id);
    assert.equal(isStreamId('0-0'), true);
  });
});
