/**
 * The rules of docs/backend-contract.md as `cedargate backend-check` runs them: a table of named
 * checks, in order, each a function of the trial so far that returns why it passed or throws
 * {@link RuleFailure} saying why not. Later rules build on the scratch user earlier ones made.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { isStrongEntityTag } from '../common/if-match.js';
import { BackendUserError, readBackendUser } from '../sidecar/backend-user.js';
import type { BackendUser } from '../sidecar/backend-user.js';
import { READINESS_PROBE_ID } from '../sidecar/upstream.js';

/** One backend answer, read whole. */
export interface Answer {
  status: number;
  etag: string | null;
  json: unknown;
  text: string;
}

/** One call to the backend (the acting user's header added). */
export type Call = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) => Promise<Answer>;

/** The facts later rules build on, filled in by earlier ones. */
export interface Scratch {
  id?: string;
  etag?: string;
  name?: string;
  /** The version `update` replaced: a later If-Match with it must be refused. */
  staleEtag?: string;
}

/** What every rule works with: the backend, the tenant and user named, what earlier rules made. */
export interface Trial {
  call: Call;
  tenantId: string;
  userId: string;
  trustSecret: string;
  /** The role the scratch user is created with. */
  role: string;
  /** The headers of a call the sidecar would make for the tenant. */
  trusted: Record<string, string>;
  /** The answer to the readiness call, made before any rule (it tells an unreachable backend). */
  health: Answer;
  scratch: Scratch;
}

/** A rule: returns why it passed, or throws {@link RuleFailure}. */
type Rule = (t: Trial) => Promise<string> | string;

/** A failed rule: thrown inside a rule's body, becomes its FAIL line. */
export class RuleFailure extends Error {}

function fail(reason: string): never {
  throw new RuleFailure(reason);
}

export function userPath(id: string): string {
  return `/v1/users/${encodeURIComponent(id)}`;
}

/** The very call the sidecar's /readyz makes: a trusted look-up of an id never issued. */
export function readinessCall(call: Call, trustSecret: string): Promise<Answer> {
  return call('GET', userPath(READINESS_PROBE_ID), {
    [TRUST_HEADER]: trustSecret,
    [TENANT_HEADER]: READINESS_PROBE_ID,
  });
}

const health: Rule = (t) => {
  expectStatus(t.health, 404, `trusted GET ${userPath(READINESS_PROBE_ID)} (the readiness call)`);
  return `the readiness call (a trusted look-up of ${READINESS_PROBE_ID}) answers 404`;
};

const trustRequired: Rule = async (t) => {
  for (const [what, headers] of [
    ['without the trust header', { [TENANT_HEADER]: t.tenantId }],
    ['with a wrong trust secret', { ...t.trusted, [TRUST_HEADER]: `x${t.trustSecret}` }],
  ] as const) {
    const a = await t.call('GET', userPath(t.userId), headers);
    if (a.status !== 401 && a.status !== 403) {
      fail(`GET ${userPath(t.userId)} ${what} answered ${a.status}, want 401 (or 403)`);
    }
  }
  return 'a user look-up without the secret, or with a wrong one, is refused';
};

const userShape: Rule = async (t) => {
  const a = await t.call('GET', userPath(t.userId), t.trusted);
  expectStatus(a, 200, `GET ${userPath(t.userId)}`);
  expectUser(a.json, { tenantId: t.tenantId, userId: t.userId });
  return 'the look-up answers 200 with {id, tenant_id, name, roles, is_owner, avatar}';
};

const strongEtag: Rule = async (t) => {
  const a = await t.call('GET', userPath(t.userId), t.trusted);
  expectStatus(a, 200, `GET ${userPath(t.userId)}`);
  expectStrongEtag(a, `GET ${userPath(t.userId)}`);
  return `the look-up carries a strong ETag (${a.etag ?? ''})`;
};

const unknownUser404: Rule = async (t) => {
  const a = await t.call('GET', userPath(randomUUID().toUpperCase()), t.trusted);
  expectStatus(a, 404, 'GET of a user that does not exist');
  expectErrorBody(a, 'GET of a user that does not exist');
  return 'a user that does not exist is 404 with {code, message}';
};

const tenantScoped: Rule = async (t) => {
  const other = randomUUID().toUpperCase();
  const a = await t.call('GET', userPath(t.userId), { ...t.trusted, [TENANT_HEADER]: other });
  if (a.status >= 200 && a.status < 300) {
    fail(`GET ${userPath(t.userId)} with X-Tenant-ID of another tenant answered ${a.status}`);
  }
  return `the user is not found through another tenant (${a.status})`;
};

const listShape: Rule = async (t) => {
  const a = await t.call('GET', '/v1/users?limit=1', t.trusted);
  expectStatus(a, 200, 'GET /v1/users?limit=1');
  const page = a.json as { users?: unknown; next_cursor?: unknown } | null;
  if (typeof page !== 'object' || page === null || !Array.isArray(page.users)) {
    fail('GET /v1/users?limit=1 did not answer {"users":[...],"next_cursor":...}');
  }
  if (page.next_cursor !== null && typeof page.next_cursor !== 'string') {
    fail('next_cursor must be a string or null');
  }
  for (const u of page.users as unknown[]) expectUser(u, { tenantId: t.tenantId });
  return 'a list page is {users, next_cursor} with users of the tenant';
};

const create: Rule = async (t) => {
  const email = `backend-check-${randomBytes(4).toString('hex')}@example.test`;
  const body = { name: 'backend-check', email, roles: [t.role] };
  const a = await t.call('POST', '/v1/users', t.trusted, body);
  expectStatus(a, 201, 'POST /v1/users');
  const user = expectUser(a.json, { tenantId: t.tenantId });
  if (JSON.stringify(user.roles) !== JSON.stringify([t.role])) {
    fail(`the created user has roles ${JSON.stringify(user.roles)}, want ["${t.role}"]`);
  }
  expectStrongEtag(a, 'POST /v1/users');
  Object.assign(t.scratch, { id: user.id, etag: a.etag, name: user.name });
  return `POST /v1/users answers 201 with the user and a strong ETag (${user.id})`;
};

const update: Rule = async (t) => {
  const { id, etag } = needScratch(t.scratch);
  const name = `backend-check ${randomBytes(3).toString('hex')}`;
  const a = await t.call('PUT', userPath(id), { ...t.trusted, 'if-match': etag }, { name });
  expectStatus(a, 200, `PUT ${userPath(id)} with the current If-Match`);
  const user = expectUser(a.json, { tenantId: t.tenantId, userId: id });
  if (user.name !== name) fail(`the PUT answered name ${JSON.stringify(user.name)}`);
  expectStrongEtag(a, `PUT ${userPath(id)}`);
  if (a.etag === etag) fail('the PUT answered the ETag of the version it replaced');
  Object.assign(t.scratch, { etag: a.etag, name, staleEtag: etag });
  return 'PUT with the current If-Match answers 200 with the user as it now is, a new ETag';
};

const etagStable: Rule = async (t) => {
  const { id, etag, name } = needScratch(t.scratch, 'update');
  const a = await t.call('GET', userPath(id), t.trusted);
  expectStatus(a, 200, `GET ${userPath(id)}`);
  if ((a.json as { name?: unknown } | null)?.name !== name) fail('the PUT was not applied');
  if (a.etag !== etag) {
    fail(`GET answered ETag ${a.etag ?? '(none)'}, the PUT answered ${etag} for this version`);
  }
  return 'a look-up answers the same ETag the write answered for the same version';
};

const ifMatch412: Rule = async (t) => {
  const { id, etag, name, staleEtag } = needScratch(t.scratch, 'update');
  const stale = staleEtag ?? fail('not run: needs "update"');
  const a = await t.call(
    'PUT',
    userPath(id),
    { ...t.trusted, 'if-match': stale },
    { name: 'backend-check lost update' },
  );
  expectStatus(a, 412, `PUT ${userPath(id)} with the If-Match of a replaced version`);
  expectErrorBody(a, 'the 412');
  const now = await t.call('GET', userPath(id), t.trusted);
  if ((now.json as { name?: unknown } | null)?.name !== name || now.etag !== etag) {
    fail('the refused PUT changed the user');
  }
  return 'PUT with a stale If-Match is 412 and changes nothing';
};

const deleteIfMatch: Rule = async (t) => {
  const { id, etag, staleEtag } = needScratch(t.scratch, 'update');
  const stale = staleEtag ?? fail('not run: needs "update"');
  const refused = await t.call('DELETE', userPath(id), { ...t.trusted, 'if-match': stale });
  expectStatus(refused, 412, `DELETE ${userPath(id)} with a stale If-Match`);
  const a = await t.call('DELETE', userPath(id), { ...t.trusted, 'if-match': etag });
  if (a.status !== 204 && a.status !== 200) {
    fail(`DELETE with the current If-Match answered ${a.status}, want 204`);
  }
  const gone = await t.call('GET', userPath(id), t.trusted);
  expectStatus(gone, 404, 'GET after DELETE');
  delete t.scratch.id;
  return 'DELETE honours If-Match (412, then 204), and the user is gone';
};

/** The rules, in the order they run and are reported. */
export const BACKEND_RULES: readonly (readonly [string, Rule])[] = [
  ['health', health],
  ['trust-required', trustRequired],
  ['user-shape', userShape],
  ['strong-etag', strongEtag],
  ['unknown-user-404', unknownUser404],
  ['tenant-scoped', tenantScoped],
  ['list-shape', listShape],
  ['create', create],
  ['update', update],
  ['etag-stable', etagStable],
  ['if-match-412', ifMatch412],
  ['delete-if-match', deleteIfMatch],
];

/** A rule's FAIL reason: its own, or the call that could not be made. */
export function reasonOf(err: unknown): string {
  if (err instanceof RuleFailure) return err.message;
  return `the backend could not be asked: ${err instanceof Error ? err.message : String(err)}`;
}

function needScratch(
  scratch: Scratch,
  after = 'create',
): { id: string; etag: string; name: string; staleEtag: string | undefined } {
  const { id, etag, name } = scratch;
  if (id === undefined || etag === undefined || name === undefined) {
    fail(`not run: needs "${after}" to pass`);
  }
  if (after === 'update' && scratch.staleEtag === undefined)
    fail('not run: needs "update" to pass');
  return { id, etag, name, staleEtag: scratch.staleEtag };
}

function expectStatus(a: Answer, want: number, what: string): void {
  if (a.status !== want)
    fail(`${what} answered ${a.status}, want ${want}: ${a.text.slice(0, 200)}`);
}

function expectStrongEtag(a: Answer, what: string): asserts a is Answer & { etag: string } {
  if (a.etag === null) fail(`${what} carries no ETag`);
  if (!isStrongEntityTag(a.etag)) {
    fail(`${what} carries ETag ${a.etag}: not a strong entity tag ("..." without W/)`);
  }
}

function expectErrorBody(a: Answer, what: string): void {
  const b = a.json as { code?: unknown; message?: unknown } | null;
  if (typeof b?.code !== 'string' || typeof b.message !== 'string') {
    fail(`${what} is not the contract's error body {code, message}: ${a.text.slice(0, 200)}`);
  }
}

/**
 * A user in a backend's answer, read by the sidecar's own reader of a user's JSON: a rule fails
 * exactly when the sidecar would refuse the user, naming the field, its value and what it wants.
 */
function expectUser(raw: unknown, expected: { tenantId: string; userId?: string }): BackendUser {
  try {
    return readBackendUser(raw, expected);
  } catch (err) {
    if (err instanceof BackendUserError) fail(err.message);
    throw err;
  }
}
