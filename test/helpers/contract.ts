/**
 * What a test reads in an answer, typed as the contract gives it (the error body §5, a user,
 * a list page), and the one assertion of the contract's error format that every suite uses.
 */
import assert from 'node:assert/strict';
import type { User } from '../../src/common/user.js';

/** `details` of an error body: the keys some error codes carry (contract §5). */
export interface ErrorDetails {
  field: string;
  invalid: string[];
  allowed: string[];
  ignored_roles: string[];
  policies: string[];
  action: string;
  invariant: string;
  [key: string]: unknown;
}

/**
 * A parsed JSON answer as the tests read it: the error body, a user, or a page of users. The
 * fields are typed as the contract gives them, not as optional: a test that reads one the answer
 * lacks gets `undefined` at run time, and the assertion reading it fails, which is the point.
 */
export interface ReplyBody extends User {
  code: string;
  message: string;
  details: ErrorDetails;
  notices: string[];
  users: User[];
  next_cursor: string | null;
  [key: string]: unknown;
}

/** An answer as stack.ts, supertest and raw-http.ts each give one. */
type Answer =
  { status: number; body: unknown; text: string } | { status: number; body: string; json: unknown };

function partsOf(r: Answer): { body: Partial<ReplyBody> | undefined; text: string } {
  if ('json' in r) return { body: r.json as Partial<ReplyBody> | undefined, text: r.body };
  return { body: r.body as Partial<ReplyBody> | undefined, text: r.text };
}

/** A status, the contract's error body with that code, and nothing else in it. */
export function assertError(r: Answer, status: number, code: string, what = ''): void {
  const { body, text } = partsOf(r);
  assert.equal(r.status, status, `${what} expected ${status} ${code}, got ${r.status} ${text}`);
  assert.equal(body?.code, code, `${what} ${text}`);
  assert.equal(typeof body?.message, 'string', `${what} ${text}`);
  const extra = Object.keys(body ?? {}).filter(
    (k) => !['code', 'message', 'details', 'notices'].includes(k),
  );
  assert.deepEqual(extra, [], `${what} fields outside the contract's error body: ${text}`);
}

/** Any 4xx in the contract's format (the fuzzing oracle). */
export function assertContract4xx(r: Answer, what: string): void {
  const { body, text } = partsOf(r);
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status} ${text}`);
  assert.equal(typeof body?.code, 'string', `${what}: ${text}`);
  assert.equal(typeof body?.message, 'string', `${what}: ${text}`);
}

/** The version an ETag carries (`"<id>.<version>"`); fails the test when it carries none. */
export function versionOf(etag: string | null): number {
  const m = /\.(\d+)"$/.exec(etag ?? '');
  assert.ok(m, `an ETag with a version: ${etag}`);
  return Number(m[1]);
}

/** A problem of a policy load, as `/status` reports it. */
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** The admin port's `/status`, the parts tests read. */
export interface AdminStatus {
  policies: {
    live: { version: string; policyIds: string[] };
    lastReload: { ok: boolean; problems: PolicyProblem[]; [key: string]: unknown };
  };
  caches: Record<string, Record<string, number>>;
  bodies: { bytes: number; [key: string]: unknown };
  [key: string]: unknown;
}

/** GET an admin endpoint (e.g. /status) as parsed JSON. */
export async function adminJson(adminUrl: string, path: string): Promise<AdminStatus> {
  return (await (await fetch(`${adminUrl}${path}`)).json()) as AdminStatus;
}
