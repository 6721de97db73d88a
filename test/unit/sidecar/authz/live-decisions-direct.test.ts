/**
 * The live set's decider without the caches (`directDeciderOf`), as the permissions answers use
 * it: only when the compiled decider decides, and handing each decision over as made — a copy of
 * each of an answer's 25 compiled decisions cost it ~25–30 µs (the peers' permissions-20 profile).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LiveDecider } from '../../../../src/sidecar/authz/decider.js';
import { directDeciderOf } from '../../../../src/sidecar/authz/live-decisions.js';
import type { Live } from '../../../../src/sidecar/authz/live-set.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';

const REQUEST: AuthzRequest = {
  principal: { id: 'p', tenantId: 't', roles: ['admin'], isOwner: false },
  action: 'users:read',
  resource: { type: 'User', id: 'r', tenantId: 't', roles: [], isOwner: false },
  context: {},
};

/** A live set of version v1 over roles a, b, whose decider answers `answer` with `engine`. */
function liveOf(engine: 'compiled' | 'wasm', answer: ReturnType<LiveDecider['authorize']>): Live {
  const decider: LiveDecider = {
    authorize: () => answer,
    status: () => ({ engine, reason: null, crosscheck: { rate: 0, checked: 0, disagreements: 0 } }),
  };
  return { decider, snapshot: { version: 'v1', roles: ['a', 'b'] } } as unknown as Live;
}

describe('directDeciderOf', () => {
  it('hands each compiled decision over as the decider made it, not a copy', () => {
    const answer = { allowed: true, policies: ['p1'], notices: [], errors: [] };
    const direct = directDeciderOf(liveOf('compiled', answer));
    assert.ok(direct !== undefined);
    assert.equal(direct.version, 'v1');
    assert.deepEqual(direct.roles, ['a', 'b']);
    assert.equal(direct.decide(REQUEST), answer);
  });

  it('is undefined when cedar-wasm decides the set (its decisions are worth keeping)', () => {
    const answer = { allowed: false, policies: [], notices: [], errors: [] };
    assert.equal(directDeciderOf(liveOf('wasm', answer)), undefined);
  });
});
