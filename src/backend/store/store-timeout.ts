/**
 * One request's store calls, all within one time budget (STORE_TIMEOUT_MS), kept below the
 * sidecar's UPSTREAM_TIMEOUT_MS: a store that cannot answer now is then the backend's own 503,
 * which tells the client what happened, and not the sidecar's 504, which cannot.
 *
 * Why: through Redis Sentinel, node-redis holds every command while the master is dead and not
 * yet replaced (a failover takes seconds), then sends it to the new primary. A write held that
 * way outlasted the sidecar's default 5 s, and its client got 504 `upstream_timeout` — nothing
 * said whether the write was applied, and it still could be, once a primary came back.
 */
import { within as withinMs } from '../../common/within.js';
import { UnavailableError } from '../../errors.js';
import { RETRY_UNCONFIRMED, type UserStore } from './store.js';

/** STORE_TIMEOUT_MS's default: a second under UPSTREAM_TIMEOUT_MS's (5000). */
export const DEFAULT_STORE_TIMEOUT_MS = 4_000;

/** The store calls the users API makes on a request's behalf. */
export type RequestStore = Pick<
  UserStore,
  'listUsers' | 'getUser' | 'createUser' | 'updateUser' | 'deleteUser'
>;

/**
 * `store`'s calls, each answered by `budgetMs` after this is called (one request's arrival) or
 * refused with 503 `unavailable` (`Retry-After: 1`, `details.reason` `store_timeout`). A write
 * refused so may still be applied by the store after the answer — the call is not taken back —
 * so its answer says `may_have_been_applied`, as for a write no replica confirmed; a read's
 * changed nothing.
 */
export function storeWithinTimeout(
  store: RequestStore,
  budgetMs: number,
  now: () => number = Date.now,
): RequestStore {
  const deadline = now() + budgetMs;
  const within = async <T>(call: Promise<T>, kind: 'read' | 'write'): Promise<T> => {
    // The call goes on after a timeout; what it ends with then is no one's to handle.
    const answered = await withinMs(call, Math.max(0, deadline - now()));
    if (answered === undefined) throw storeTimedOut(budgetMs, kind);
    return answered.value;
  };

  return {
    listUsers: (tenantId, options) => within(store.listUsers(tenantId, options), 'read'),
    getUser: (tenantId, userId) => within(store.getUser(tenantId, userId), 'read'),
    createUser: (tenantId, input) => within(store.createUser(tenantId, input), 'write'),
    updateUser: (tenantId, userId, patch, version, generation) =>
      within(store.updateUser(tenantId, userId, patch, version, generation), 'write'),
    deleteUser: (tenantId, userId, version, generation) =>
      within(store.deleteUser(tenantId, userId, version, generation), 'write'),
  };
}

/** The 503 of a store call past the request's budget. */
export function storeTimedOut(budgetMs: number, kind: 'read' | 'write'): UnavailableError {
  if (kind === 'read') {
    return new UnavailableError(`the users store did not answer within ${budgetMs} ms`, {
      retryAfterSeconds: 1,
      details: { reason: 'store_timeout' },
    });
  }
  return new UnavailableError(
    `the users store did not answer the write within ${budgetMs} ms: ` +
      'it may have been applied, or may still be once the store answers again',
    {
      retryAfterSeconds: 1,
      details: { may_have_been_applied: true, reason: 'store_timeout', retry: RETRY_UNCONFIRMED },
    },
  );
}
