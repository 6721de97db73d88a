/**
 * The candidate set in shadow: it decides after the enforced answer (never inside observe), counts
 * agreements exactly, logs each disagreement with both answers, drops and counts past its bound,
 * and a candidate that does not load is retried while requests go on being answered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createCandidateShadow,
  disagreementOf,
  type Agreement,
  type Decided,
} from '../../../../src/sidecar/authz/candidate.js';
import { PolicyLoadError, type PolicyStore } from '../../../../src/sidecar/authz/policy-store.js';
import type { Logger } from '../../../../src/common/logger.js';
import type { AuthzRequest, Decision } from '../../../../src/policy/types.js';
import { waitFor } from '../../../helpers/net.js';

const allow = (...policies: string[]): Decision => ({
  allowed: true,
  policies,
  notices: [],
  errors: [],
  cached: false,
});
const deny = (...policies: string[]): Decision => ({
  allowed: false,
  policies,
  notices: policies.map((p) => `notice of ${p}`),
  errors: [],
  cached: false,
});

const request = (action: AuthzRequest['action'], id: string): AuthzRequest => ({
  principal: { id, tenantId: 't', roles: ['user'], isOwner: false },
  action,
  resource: { type: 'Tenant', id: 't' },
  context: {},
});

/** A store that answers what `answers` says for the request's principal id. */
function fakeStore(answers: Record<string, Decision>, calls: string[]): PolicyStore {
  return {
    current: () => ({ version: 'cand-v1' }) as ReturnType<PolicyStore['current']>,
    decide: (r) => {
      calls.push(r.principal.id);
      return answers[r.principal.id] ?? allow('p');
    },
    ask: () => {
      throw new Error('the candidate set decides with decide(), never ask()');
    },
    reload: () => Promise.resolve('unchanged'),
    status: () => ({ live: { version: 'cand-v1' } }) as ReturnType<PolicyStore['status']>,
    dropDecisions: () => undefined,
    close: () => undefined,
  };
}

function fakeLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg: string): void =>
      void lines.push({ level, obj, msg });
  return {
    logger: { info: at('info'), warn: at('warn'), error: at('error') } as never as Logger,
    lines,
  };
}

const decided = (id: string, decision: Decision): Decided => ({
  requestId: `rid-${id}`,
  request: request('users:list', id),
  decision,
  policyVersion: 'live-v1',
});

describe('candidate set in shadow', () => {
  it('decides on a later turn, never inside observe; counts agree and disagree exactly', async () => {
    const calls: string[] = [];
    const counted: Agreement[] = [];
    const { logger, lines } = fakeLogger();
    const shadow = await createCandidateShadow({
      dir: '/cand',
      logger,
      pollMs: 1000,
      openStore: () => Promise.resolve(fakeStore({ a: deny('f'), b: allow('p') }, calls)),
      onCount: (a) => counted.push(a),
    });
    shadow.observe(decided('a', allow('p'))); // the candidate would deny: disagree
    shadow.observe(decided('b', allow('q'))); // allowed by another permit: the same answer
    shadow.observe(decided('c', deny('g'))); // the candidate allows: disagree
    assert.deepEqual(calls, [], 'observe only queues');
    assert.equal(shadow.status().pending, 3);
    await shadow.idle();
    assert.deepEqual(calls, ['a', 'b', 'c']);
    assert.deepEqual(shadow.status().decisions, { agree: 1, disagree: 2, dropped: 0, unloaded: 0 });
    assert.deepEqual(counted, ['disagree', 'agree', 'disagree']);
    const logged = lines.filter((l) => l.msg === 'candidate_disagrees');
    assert.equal(logged.length, 2);
    assert.equal(logged[0]?.level, 'warn');
    assert.deepEqual(logged[0]?.obj, {
      request_id: 'rid-a',
      action: 'users:list',
      kind: 'decision',
      enforced: { decision: 'allow', policies: ['p'] },
      candidate: { decision: 'deny', policies: ['f'], notices: ['notice of f'] },
      enforced_version: 'live-v1',
      candidate_version: 'cand-v1',
    });
    shadow.close();
  });

  it('past its bound it drops and counts instead of queueing', async () => {
    const calls: string[] = [];
    const shadow = await createCandidateShadow({
      dir: '/cand',
      logger: fakeLogger().logger,
      pollMs: 1000,
      maxPending: 2,
      batch: 1,
      openStore: () => Promise.resolve(fakeStore({}, calls)),
    });
    for (const id of ['a', 'b', 'c', 'd', 'e']) shadow.observe(decided(id, allow('p')));
    assert.equal(shadow.status().pending, 2);
    assert.equal(shadow.status().decisions.dropped, 3);
    await shadow.idle();
    assert.deepEqual(calls, ['a', 'b']);
    assert.deepEqual(shadow.status().decisions, { agree: 2, disagree: 0, dropped: 3, unloaded: 0 });
    shadow.close();
  });

  it('a candidate that does not load: counted as unloaded, shown with its problems, retried', async () => {
    const calls: string[] = [];
    let attempts = 0;
    const { logger, lines } = fakeLogger();
    const shadow = await createCandidateShadow({
      dir: '/cand',
      logger,
      pollMs: 20,
      watch: false,
      openStore: () => {
        attempts++;
        if (attempts < 3)
          return Promise.reject(
            new PolicyLoadError([{ file: '/cand/x.cedar', line: 2, column: 5, message: 'bad' }]),
          );
        return Promise.resolve(fakeStore({}, calls));
      },
    });
    const s = shadow.status();
    assert.equal(s.policies, null);
    assert.deepEqual(s.loadProblems, [
      { file: '/cand/x.cedar', line: 2, column: 5, message: 'bad' },
    ]);
    shadow.observe(decided('a', allow('p')));
    assert.equal(shadow.status().decisions.unloaded, 1);
    await waitFor(() => shadow.status().policies !== null, 10_000, 'the retry to load');
    assert.equal(shadow.status().loadProblems, null);
    // The same failure twice is said once.
    assert.equal(lines.filter((l) => l.level === 'error').length, 1);
    shadow.observe(decided('b', allow('p')));
    await shadow.idle();
    assert.deepEqual(calls, ['b']);
    shadow.close();
  });

  it('a retry waits for a load still in flight: slow loads are not piled up, nor stores leaked', async () => {
    const { logger } = fakeLogger();
    let attempts = 0;
    let inFlight = 0;
    let mostInFlight = 0;
    let opened = 0;
    let closed = 0;
    let release: () => void = () => undefined;
    const shadow = await createCandidateShadow({
      dir: '/cand',
      logger,
      pollMs: 5,
      watch: false,
      openStore: () => {
        attempts++;
        if (attempts === 1) return Promise.reject(new Error('not yet'));
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        // Every retry is slower than the poll period (a loaded machine, a large set).
        return new Promise<PolicyStore>((resolve) => {
          const previous = release;
          release = () => {
            previous();
            inFlight--;
            opened++;
            resolve({ ...fakeStore({}, []), close: () => void closed++ });
          };
        });
      },
    });
    await waitFor(() => attempts >= 2, 10_000, 'the first retry');
    // Twenty poll periods pass while the retry is held (a timer of the same period, started
    // after the retry's, ticks after it).
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    await waitFor(() => ticks >= 20, 10_000, 'twenty poll periods');
    clearInterval(ticker);
    assert.equal(mostInFlight, 1, `${attempts - 1} retries, ${mostInFlight} at once`);
    release();
    await waitFor(() => shadow.status().policies !== null, 10_000, 'the retry to load');
    const attemptsWhenLoaded = attempts;
    shadow.close();
    // Each store opened is the one in use, closed with the shadow: none is left open.
    assert.equal(opened, 1);
    assert.equal(closed, 1);
    assert.equal(attempts, attemptsWhenLoaded);
  });

  it('disagreementOf: allow ↔ deny, or two denials by other policies; two allows agree', () => {
    assert.equal(disagreementOf(allow('p'), deny('f')), 'decision');
    assert.equal(disagreementOf(deny('f'), allow('p')), 'decision');
    assert.equal(disagreementOf(deny('f', 'g'), deny('g', 'f')), null);
    assert.equal(disagreementOf(deny('f'), deny()), 'policies');
    assert.equal(disagreementOf(allow('p'), allow('q')), null);
  });
});
