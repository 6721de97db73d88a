/**
 * The decision log line (contract §8): what it says of a request, that a 401's real reason and a
 * 5xx's error go to the log only, and that the line is not even built when info is not enabled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnauthenticatedError, UpstreamUnavailableError } from '../../../src/errors.js';
import { createDecisionLog, type Exchange } from '../../../src/sidecar/decision-log.js';
import { OWNER, T, U1, userOf } from '../../helpers/sidecar-fakes.js';

function recorder(infoEnabled: boolean) {
  const lines: Array<Record<string, unknown>> = [];
  const observed: unknown[][] = [];
  const record = createDecisionLog({
    metrics: { observeRequest: (...args) => void observed.push(args) },
    logger: {
      isLevelEnabled: (level: string) => infoEnabled && level === 'info',
      info: ((line: Record<string, unknown>, msg: string) => {
        assert.equal(msg, 'decision');
        lines.push(line);
      }) as never,
    },
  });
  return { record, lines, observed };
}

const exchange = (): Exchange => ({
  requestId: 'rid-7',
  startedAt: process.hrtime.bigint(),
  tenantId: T,
  principal: { user: userOf(OWNER, ['admin'], true), etag: '"x"' },
  action: 'users:update',
  resource: U1,
  decision: {
    allowed: false,
    policies: ['admins-only'],
    notices: [],
    errors: [],
    cached: false,
  },
  shadowDeny: true,
});

describe('decision log', () => {
  it('one line per request: id, tenant, principal, action, resource, decision, policies, status', () => {
    const { record, lines, observed } = recorder(true);
    record(exchange(), 200);
    const line = lines[0];
    assert.ok(line);
    assert.equal(line['request_id'], 'rid-7');
    assert.equal(line['tenant'], T);
    assert.equal(line['principal'], OWNER);
    assert.equal(line['action'], 'users:update');
    assert.equal(line['resource'], U1);
    assert.equal(line['decision'], 'shadow_deny');
    assert.deepEqual(line['policies'], ['admins-only']);
    assert.equal(line['status'], 200);
    assert.equal(typeof line['latency_ms'], 'number');
    assert.deepEqual(observed[0]?.slice(0, 3), ['users:update', 'shadow_deny', 200]);
  });

  it('a request refused before any decision logs decision "none" and the error code', () => {
    const { record, lines } = recorder(true);
    const err = new UnauthenticatedError('token expired');
    record({ requestId: 'r', startedAt: process.hrtime.bigint() }, 401, err);
    assert.equal(lines[0]?.['decision'], 'none');
    assert.equal(lines[0]?.['action'], 'none');
    assert.equal(lines[0]?.['error'], 'unauthenticated');
    assert.equal(lines[0]?.['reason'], 'token expired');
    // The client's fixed category, the same as its details.reason and error_description.
    assert.equal(typeof lines[0]?.['category'], 'string');
    assert.equal(lines[0]?.['err'], undefined);
    const upstream = new UpstreamUnavailableError();
    record({ requestId: 'r', startedAt: process.hrtime.bigint() }, 502, upstream);
    assert.equal(lines[1]?.['error'], 'upstream_unavailable');
    assert.equal(lines[1]?.['err'], upstream);
  });

  it('info not enabled → metrics still observed, and the line is never built', () => {
    const { record, lines, observed } = recorder(false);
    const ex = exchange();
    Object.defineProperty(ex, 'principal', {
      get: () => assert.fail('the log line was built with info disabled'),
    });
    record(ex, 200);
    assert.equal(lines.length, 0);
    assert.equal(observed.length, 1);
  });

  it('carries what the decision read and the set version, for policy replay', () => {
    const { record, lines } = recorder(true);
    const request = {
      principal: { id: OWNER, tenantId: T, roles: ['admin'], isOwner: true },
      action: 'users:list' as const,
      resource: { type: 'Tenant' as const, id: T },
      context: {},
    };
    record({ ...exchange(), decided: { request, policyVersion: 'v123' } }, 200);
    assert.deepEqual(lines[0]?.['request'], request);
    assert.equal(lines[0]?.['policy_version'], 'v123');
    // A line of a request refused before a decision has neither.
    record({ requestId: 'r', startedAt: process.hrtime.bigint() }, 401);
    assert.equal(lines[1]?.['request'], undefined);
    assert.equal(lines[1]?.['policy_version'], undefined);
  });
});
