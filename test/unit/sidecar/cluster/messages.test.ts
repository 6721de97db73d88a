import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterKeys } from '../../../../src/sidecar/cluster/keys.js';
import { reconnectDelayMs } from '../../../../src/common/redis-connection.js';
import {
  decodeRevocation,
  encodeRevocation,
  isRevocableJti,
} from '../../../../src/sidecar/cluster/revocations.js';

const U = '2489e9ad-2ee2-8e00-8ec9-32d5f69181c0';
const T = 'aaaaaaaa-0000-4000-8000-000000000001';

describe('cluster messages', () => {
  it('revocations: round trip; malformed, wrongly typed or oversized messages are refused', () => {
    const jti = { kind: 'jti', jti: 'abc-123', expiresAt: 1_900_000_000 } as const;
    const sub = {
      kind: 'subject',
      subject: U.toUpperCase(),
      tenantId: T.toUpperCase(),
      cutoff: 5,
    } as const;
    assert.deepEqual(decodeRevocation(encodeRevocation(jti)), jti);
    assert.deepEqual(decodeRevocation(encodeRevocation(sub)), sub);
    for (const bad of [
      'not json',
      'null',
      '[]',
      '{"kind":"jti","jti":"a b","expiresAt":1}',
      `{"kind":"jti","jti":"${'x'.repeat(257)}","expiresAt":1}`,
      '{"kind":"jti","jti":"a","expiresAt":"1"}',
      '{"kind":"jti","jti":"a","expiresAt":-1}',
      '{"kind":"subject","subject":"../x","cutoff":1}',
      `{"kind":"subject","subject":"${U}","tenantId":"*","cutoff":1}`,
      `{"kind":"subject","subject":"${U}","cutoff":1.5}`,
      '{"kind":"other"}',
    ]) {
      assert.equal(decodeRevocation(bad), undefined, bad);
    }
  });

  it('a jti is revocable only when it is 1 to 256 printable characters', () => {
    assert.ok(isRevocableJti('7f1c2a9e-aaaa-bbbb'));
    assert.ok(!isRevocableJti(''));
    assert.ok(!isRevocableJti('has space'));
    assert.ok(!isRevocableJti('new\nline'));
    assert.ok(!isRevocableJti('x'.repeat(257)));
  });

  it('key names sit under the prefix; SCAN patterns escape glob characters', () => {
    const k = clusterKeys('cg:');
    assert.equal(k.revokedJti('abc'), 'cg:revoked:jti:abc');
    assert.equal(k.revokedJti('abc').slice(k.revokedJtiPrefixLength), 'abc');
    assert.equal(k.revokedJtiPattern, 'cg:revoked:jti:*');
    assert.equal(clusterKeys('a*[b]:').revokedJtiPattern, 'a\\*\\[b\\]:revoked:jti:*');
  });

  it('reconnect backoff grows, is capped, and never gives up', () => {
    const none = () => 0;
    assert.equal(reconnectDelayMs(0, none), 100);
    assert.equal(reconnectDelayMs(1, none), 200);
    assert.equal(reconnectDelayMs(3, none), 800);
    assert.equal(reconnectDelayMs(50, none), 3_000);
    assert.equal(
      reconnectDelayMs(1_000_000, () => 0.999),
      3_099,
    );
  });
});
