import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createRevocationMirror,
  revocationsMissingFrom,
} from '../../../../src/sidecar/cluster/revocation-mirror.js';

const SUB = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';
const OTHER = '11111111-2222-4333-8444-555555555555';
const T1 = 'AAAAAAAA-0000-4000-8000-000000000001';
const T2 = 'AAAAAAAA-0000-4000-8000-000000000002';

function cred(
  over: { jti?: string; issuedAt?: number | undefined; subject?: string; tenantId?: string } = {},
) {
  return {
    subject: over.subject ?? SUB,
    tenantId: over.tenantId ?? T1,
    jti: over.jti,
    issuedAt: 'issuedAt' in over ? over.issuedAt : 1_000,
  };
}

describe('revocation mirror', () => {
  it('refuses a revoked jti and only that jti', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({ kind: 'jti', jti: 'abc', expiresAt: 5_000 });
    assert.equal(m.check(cred({ jti: 'abc' })), 'jti');
    assert.equal(m.check(cred({ jti: 'abd' })), null);
    assert.equal(m.check(cred()), null);
  });

  it('a subject cut-off revokes tokens issued at or before it, not after', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({ kind: 'subject', subject: SUB, cutoff: 1_000 });
    assert.equal(m.check(cred({ issuedAt: 999 })), 'subject');
    assert.equal(m.check(cred({ issuedAt: 1_000 })), 'subject');
    assert.equal(m.check(cred({ issuedAt: 1_001 })), null);
    assert.equal(m.check(cred({ issuedAt: 10, subject: OTHER })), null);
  });

  it('a subject cut-off widens by the clock tolerance (security.md 32)', () => {
    // An issuer clock up to the tolerance ahead stamps a token minted before the revocation
    // with an iat after it: such a token must be refused too.
    const m = createRevocationMirror({ now: () => 0, clockToleranceSeconds: 30 });
    m.apply({ kind: 'subject', subject: SUB, cutoff: 1_000 });
    assert.equal(m.check(cred({ issuedAt: 1_005 })), 'subject');
    assert.equal(m.check(cred({ issuedAt: 1_030 })), 'subject');
    assert.equal(m.check(cred({ issuedAt: 1_031 })), null);
    // Without a tolerance the cut-off is exact.
    const exact = createRevocationMirror({ now: () => 0 });
    exact.apply({ kind: 'subject', subject: SUB, cutoff: 1_000 });
    assert.equal(exact.check(cred({ issuedAt: 1_001 })), null);
  });

  it('a token without iat of a revoked subject counts as revoked', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({ kind: 'subject', subject: SUB, cutoff: 1_000 });
    assert.equal(m.check(cred({ issuedAt: undefined })), 'subject');
    // ...but no iat alone revokes nothing.
    assert.equal(m.check(cred({ issuedAt: undefined, subject: OTHER })), null);
  });

  it('a tenant-scoped cut-off applies in that tenant only', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({ kind: 'subject', subject: SUB, tenantId: T1, cutoff: 1_000 });
    assert.equal(m.check(cred({ tenantId: T1 })), 'subject');
    assert.equal(m.check(cred({ tenantId: T2 })), null);
  });

  it('ids compare without regard to case', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({
      kind: 'subject',
      subject: SUB.toLowerCase(),
      tenantId: T1.toLowerCase(),
      cutoff: 1_000,
    });
    assert.equal(m.check(cred()), 'subject');
  });

  it('merging keeps the later cut-off and everything already known', () => {
    const m = createRevocationMirror({ now: () => 0 });
    m.apply({ kind: 'subject', subject: SUB, cutoff: 2_000 });
    m.apply({ kind: 'jti', jti: 'live', expiresAt: 9_000 });
    m.merge([{ kind: 'subject', subject: SUB, cutoff: 1_000 }]);
    assert.equal(m.check(cred({ issuedAt: 1_500 })), 'subject');
    assert.equal(m.check(cred({ jti: 'live', issuedAt: 5_000 })), 'jti');
    assert.deepEqual(m.size(), { jtis: 1, subjects: 1 });
  });

  it('drops a jti entry once its token has expired (the injected clock decides)', () => {
    let nowMs = 1_000_000;
    const m = createRevocationMirror({ now: () => nowMs });
    m.apply({ kind: 'jti', jti: 'old', expiresAt: 1_500 });
    assert.equal(m.check(cred({ jti: 'old' })), 'jti');
    nowMs = 1_501_000;
    m.apply({ kind: 'jti', jti: 'new', expiresAt: 9_000 });
    assert.deepEqual(m.size(), { jtis: 1, subjects: 0 });
    assert.equal(m.check(cred({ jti: 'old' })), null);
  });
});

describe('revocation mirror: re-asserting what a store lost', () => {
  it('lists what it holds, expired jti entries left out', () => {
    const m = createRevocationMirror({ now: () => 2_000_000 });
    m.merge([
      { kind: 'jti', jti: 'live', expiresAt: 5_000 },
      { kind: 'jti', jti: 'gone', expiresAt: 1_000 },
      { kind: 'subject', subject: SUB, cutoff: 10 },
      { kind: 'subject', subject: SUB, tenantId: T1, cutoff: 20 },
    ]);
    assert.deepEqual(
      m.entries().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { kind: 'jti', jti: 'live', expiresAt: 5_000 },
        { kind: 'subject', subject: SUB, cutoff: 10 },
        { kind: 'subject', subject: SUB, tenantId: T1, cutoff: 20 },
      ],
    );
  });

  it('what the store lacks, or holds weaker, is missing; what it holds as strong is not', () => {
    const mine = [
      { kind: 'jti', jti: 'a', expiresAt: 100 },
      { kind: 'jti', jti: 'b', expiresAt: 100 },
      { kind: 'jti', jti: 'c', expiresAt: 100 },
      { kind: 'subject', subject: SUB, cutoff: 50 },
      { kind: 'subject', subject: SUB, tenantId: T2, cutoff: 50 },
    ] as const;
    const stored = [
      { kind: 'jti', jti: 'a', expiresAt: 100 },
      { kind: 'jti', jti: 'b', expiresAt: 90 },
      { kind: 'subject', subject: SUB, cutoff: 60 },
      { kind: 'subject', subject: SUB, tenantId: T1, cutoff: 50 },
    ] as const;
    assert.deepEqual(revocationsMissingFrom(mine, stored), [
      { kind: 'jti', jti: 'b', expiresAt: 100 },
      { kind: 'jti', jti: 'c', expiresAt: 100 },
      { kind: 'subject', subject: SUB, tenantId: T2, cutoff: 50 },
    ]);
    assert.deepEqual(revocationsMissingFrom([], stored), []);
  });
});
