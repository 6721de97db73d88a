/**
 * The fair gate's choices, with a recording scheduler and a fake verifier: a credential the
 * verifier's cache holds skips the queue; a cold one waits in the `X-Tenant-ID` tenant's queue only once a
 * valid credential has spoken for that tenant, and in the one shared queue of unseen tenants
 * before (so naming a new tenant per request buys no extra turns); a failed verification makes
 * nothing warm.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { UnauthenticatedError } from '../../../src/errors.js';
import type {
  CredentialVerifier,
  VerifiedCredential,
} from '../../../src/sidecar/authn/verifier.js';
import { UNSEEN_TENANTS, createFairGate } from '../../../src/sidecar/fair-gate.js';
import type { FairScheduler } from '../../../src/sidecar/fair-scheduler.js';

const TA = 'aaaaaaaa-0000-4000-8000-000000000000';
const TB = 'BBBBBBBB-0000-4000-8000-000000000000';

/** Runs everything at once, recording the queue each step was put in. */
function recordingScheduler(): FairScheduler & { queues: string[] } {
  const queues: string[] = [];
  return {
    queues,
    acquire: async (tenant) => {
      queues.push(tenant);
      return () => undefined;
    },
    async run(tenant, _cost, work) {
      queues.push(tenant);
      return work();
    },
    depth: () => 0,
    stats: () => ({ running: 0, queued: 0, tenantsWaiting: 0, rejected: 0 }),
  };
}

/**
 * Tokens look like `good:<tenant>` or `bad`. Like the real one, it caches what it verified, and
 * `verifyCached` answers from that cache only.
 */
function cachingVerifier(): CredentialVerifier {
  const cached = new Map<string, VerifiedCredential>();
  return {
    async verify(authorization) {
      const token = String(authorization).replace(/^Bearer /, '');
      if (!token.startsWith('good:')) throw new UnauthenticatedError('bad signature');
      const cred = {
        token,
        issuer: 'https://issuer.test/',
        subject: 'S',
        tenantId: token.slice('good:'.length).split('#')[0] as string,
        tenantRefusal: undefined,
        jti: undefined,
        issuedAt: undefined,
        expiresAt: 0,
        claims: {},
      };
      cached.set(String(authorization), cred);
      return cred;
    },
    verifyCached(authorization) {
      const cred = cached.get(String(authorization));
      return cred === undefined ? undefined : Promise.resolve(cred);
    },
    stats: () => ({ cacheHits: 0, cacheMisses: 0, size: cached.size, verifications: 0 }),
  };
}

const req = (token: string, tenant: string | string[] | undefined): IncomingMessage =>
  ({
    headers: {
      authorization: `Bearer ${token}`,
      ...(tenant === undefined ? {} : { 'x-tenant-id': tenant }),
    },
  }) as unknown as IncomingMessage;

describe('fair gate', () => {
  it("queues a tenant's cold credentials apart only once a valid one spoke for it", async () => {
    const scheduler = recordingScheduler();
    const gate = createFairGate({ scheduler });
    const verifier = cachingVerifier();
    const upper = TA.toUpperCase();
    await gate.verify(verifier, req(`good:${upper}#1`, TA));
    assert.deepEqual(scheduler.queues, [UNSEEN_TENANTS]);
    await gate.verify(verifier, req(`good:${upper}#2`, TA));
    assert.deepEqual(scheduler.queues, [UNSEEN_TENANTS, upper]);
    // The same credential again: the verifier's cache holds it, no turn.
    await gate.verify(verifier, req(`good:${upper}#2`, TA));
    assert.equal(scheduler.queues.length, 2);
  });

  it('one cold credential sent many times at once waits for one turn, not one each', async () => {
    const scheduler = recordingScheduler();
    const gate = createFairGate({ scheduler });
    const verifier = cachingVerifier();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => gate.verify(verifier, req(`good:${TB}#burst`, TB))),
    );
    assert.equal(scheduler.queues.length, 1, 'one scheduled verification for the burst');
    assert.ok(answers.every((c) => c.tenantId === TB));
    // Once it settled, a new credential is scheduled again.
    await gate.verify(verifier, req(`good:${TB}#other`, TB));
    assert.equal(scheduler.queues.length, 2);
  });

  it('keeps unseen, mismatched and malformed tenant headers in the one shared queue', async () => {
    const scheduler = recordingScheduler();
    const gate = createFairGate({ scheduler });
    const verifier = cachingVerifier();
    // A credential of TB sent with TA's header: verified, but TA gains no queue from it.
    await gate.verify(verifier, req(`good:${TB}`, TA));
    await gate.verify(verifier, req(`good:${TB}#2`, TA));
    await gate.verify(verifier, req(`good:${TB}#3`, [TA, TB]));
    await gate.verify(verifier, req(`good:${TB}#4`, 'not-a-tenant'));
    await gate.verify(verifier, req(`good:${TB}#5`, undefined));
    assert.deepEqual(scheduler.queues, Array(5).fill(UNSEEN_TENANTS));
  });

  it('makes nothing warm from a credential that fails', async () => {
    const scheduler = recordingScheduler();
    const gate = createFairGate({ scheduler });
    const verifier = cachingVerifier();
    for (let i = 0; i < 2; i++) {
      await assert.rejects(gate.verify(verifier, req('bad', TA)), (e: unknown) => {
        assert.ok(e instanceof UnauthenticatedError);
        assert.equal(e.code, 'unauthenticated');
        return true;
      });
    }
    assert.deepEqual(scheduler.queues, [UNSEEN_TENANTS, UNSEEN_TENANTS]);
  });

  it('runs other work in the canonical tenant’s queue', async () => {
    const scheduler = recordingScheduler();
    const gate = createFairGate({ scheduler });
    assert.equal(await gate.run(TA, 3, () => 7), 7);
    assert.deepEqual(scheduler.queues, [TA.toUpperCase()]);
  });
});
