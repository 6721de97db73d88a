/**
 * `cedargate backend-check URL --tenant T --user U [--trust-secret S] [--role R]`: drives a
 * users backend through the rules of docs/backend-contract.md — what the sidecar needs from any
 * backend it is put in front of — and prints each rule as PASS or FAIL with its reason.
 *
 * Exit 0 when every rule passes, 1 when one fails (each failure named), 2 for a wrong command
 * line or a backend that cannot be reached at all. It needs an existing tenant and one of its
 * users (`--tenant`, `--user`); it creates one scratch user in that tenant, and deletes it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SUBJECT_HEADER, TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { isStrongEntityTag } from '../common/if-match.js';
import { loadConfig } from '../config.js';
import { BackendUserError, readBackendUser } from '../sidecar/backend-user.js';
import type { BackendUser } from '../sidecar/backend-user.js';
import { READINESS_PROBE_ID } from '../sidecar/upstream.js';
import { parseFlags, required, UsageError } from './usage.js';

const USAGE =
  'cedargate backend-check URL --tenant TENANT_ID --user USER_ID [--trust-secret S] [--role ROLE] [--timeout-ms N]   (TRUST_SECRET from the environment when --trust-secret is not given)';

/** The outcome of one rule of the backend contract. */
export interface RuleResult {
  rule: string;
  ok: boolean;
  reason: string;
}

export interface BackendCheckOptions {
  baseUrl: string;
  tenantId: string;
  userId: string;
  trustSecret: string;
  /** The role the scratch user is created with; one the backend accepts. */
  role?: string;
  timeoutMs?: number;
}

/** The backend could not be reached at all: nothing can be judged (exit 2). */
export class UnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

/** One backend answer, read whole. */
interface Answer {
  status: number;
  etag: string | null;
  json: unknown;
  text: string;
}

/** A failed rule: thrown inside a rule's body, becomes its FAIL line. */
class RuleFailure extends Error {}

function fail(reason: string): never {
  throw new RuleFailure(reason);
}

/** The facts later rules build on, filled in by earlier ones. */
interface Scratch {
  id?: string;
  etag?: string;
  name?: string;
  /** The version `update` replaced: a later If-Match with it must be refused. */
  staleEtag?: string;
}

/**
 * Runs every rule in order and returns their results. Throws UnreachableError when the first
 * call cannot reach the backend.
 */
export async function checkBackend(options: BackendCheckOptions): Promise<RuleResult[]> {
  const call = caller(options);
  const { tenantId, userId } = options;
  const role = options.role ?? 'user';
  const scratch: Scratch = {};
  const trusted = { [TRUST_HEADER]: options.trustSecret, [TENANT_HEADER]: tenantId };
  const userPath = (id: string) => `/v1/users/${encodeURIComponent(id)}`;

  // The first call tells an unreachable backend (exit 2) from a failing one.
  let health: Answer;
  try {
    // The very call the sidecar's /readyz makes: a trusted look-up of an id never issued.
    health = await call('GET', userPath(READINESS_PROBE_ID), {
      [TRUST_HEADER]: options.trustSecret,
      [TENANT_HEADER]: READINESS_PROBE_ID,
    });
  } catch (err) {
    throw new UnreachableError(
      `cannot reach ${options.baseUrl}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }

  const rules: Array<[string, () => Promise<string> | string]> = [
    [
      'health',
      () => {
        expectStatus(
          health,
          404,
          `trusted GET ${userPath(READINESS_PROBE_ID)} (the readiness call)`,
        );
        return `the readiness call (a trusted look-up of ${READINESS_PROBE_ID}) answers 404`;
      },
    ],
    [
      'trust-required',
      async () => {
        for (const [what, headers] of [
          ['without the trust header', { [TENANT_HEADER]: tenantId }],
          ['with a wrong trust secret', { ...trusted, [TRUST_HEADER]: `x${options.trustSecret}` }],
        ] as const) {
          const a = await call('GET', userPath(userId), headers);
          if (a.status !== 401 && a.status !== 403) {
            fail(`GET ${userPath(userId)} ${what} answered ${a.status}, want 401 (or 403)`);
          }
        }
        return 'a user look-up without the secret, or with a wrong one, is refused';
      },
    ],
    [
      'user-shape',
      async () => {
        const a = await call('GET', userPath(userId), trusted);
        expectStatus(a, 200, `GET ${userPath(userId)}`);
        expectUser(a.json, { tenantId, userId });
        return 'the look-up answers 200 with {id, tenant_id, name, roles, is_owner, avatar}';
      },
    ],
    [
      'strong-etag',
      async () => {
        const a = await call('GET', userPath(userId), trusted);
        expectStatus(a, 200, `GET ${userPath(userId)}`);
        expectStrongEtag(a, `GET ${userPath(userId)}`);
        return `the look-up carries a strong ETag (${a.etag ?? ''})`;
      },
    ],
    [
      'unknown-user-404',
      async () => {
        const a = await call('GET', userPath(randomUUID().toUpperCase()), trusted);
        expectStatus(a, 404, 'GET of a user that does not exist');
        expectErrorBody(a, 'GET of a user that does not exist');
        return 'a user that does not exist is 404 with {code, message}';
      },
    ],
    [
      'tenant-scoped',
      async () => {
        const other = randomUUID().toUpperCase();
        const a = await call('GET', userPath(userId), { ...trusted, [TENANT_HEADER]: other });
        if (a.status >= 200 && a.status < 300) {
          fail(`GET ${userPath(userId)} with X-Tenant-ID of another tenant answered ${a.status}`);
        }
        return `the user is not found through another tenant (${a.status})`;
      },
    ],
    [
      'list-shape',
      async () => {
        const a = await call('GET', '/v1/users?limit=1', trusted);
        expectStatus(a, 200, 'GET /v1/users?limit=1');
        const page = a.json as { users?: unknown; next_cursor?: unknown } | null;
        if (typeof page !== 'object' || page === null || !Array.isArray(page.users)) {
          fail('GET /v1/users?limit=1 did not answer {"users":[...],"next_cursor":...}');
        }
        if (page.next_cursor !== null && typeof page.next_cursor !== 'string') {
          fail('next_cursor must be a string or null');
        }
        for (const u of page.users as unknown[]) expectUser(u, { tenantId });
        return 'a list page is {users, next_cursor} with users of the tenant';
      },
    ],
    [
      'create',
      async () => {
        const email = `backend-check-${randomBytes(4).toString('hex')}@example.test`;
        const body = { name: 'backend-check', email, roles: [role] };
        const a = await call('POST', '/v1/users', trusted, body);
        expectStatus(a, 201, 'POST /v1/users');
        const user = expectUser(a.json, { tenantId });
        if (JSON.stringify(user.roles) !== JSON.stringify([role])) {
          fail(`the created user has roles ${JSON.stringify(user.roles)}, want ["${role}"]`);
        }
        expectStrongEtag(a, 'POST /v1/users');
        Object.assign(scratch, { id: user.id, etag: a.etag, name: user.name });
        return `POST /v1/users answers 201 with the user and a strong ETag (${user.id})`;
      },
    ],
    [
      'update',
      async () => {
        const { id, etag } = needScratch(scratch);
        const name = `backend-check ${randomBytes(3).toString('hex')}`;
        const a = await call('PUT', userPath(id), { ...trusted, 'if-match': etag }, { name });
        expectStatus(a, 200, `PUT ${userPath(id)} with the current If-Match`);
        const user = expectUser(a.json, { tenantId, userId: id });
        if (user.name !== name) fail(`the PUT answered name ${JSON.stringify(user.name)}`);
        expectStrongEtag(a, `PUT ${userPath(id)}`);
        if (a.etag === etag) fail('the PUT answered the ETag of the version it replaced');
        Object.assign(scratch, { etag: a.etag, name, staleEtag: etag });
        return 'PUT with the current If-Match answers 200 with the user as it now is, a new ETag';
      },
    ],
    [
      'etag-stable',
      async () => {
        const { id, etag, name } = needScratch(scratch, 'update');
        const a = await call('GET', userPath(id), trusted);
        expectStatus(a, 200, `GET ${userPath(id)}`);
        if ((a.json as { name?: unknown } | null)?.name !== name) fail('the PUT was not applied');
        if (a.etag !== etag) {
          fail(
            `GET answered ETag ${a.etag ?? '(none)'}, the PUT answered ${etag} for this version`,
          );
        }
        return 'a look-up answers the same ETag the write answered for the same version';
      },
    ],
    [
      'if-match-412',
      async () => {
        const { id, etag, name, staleEtag } = needScratch(scratch, 'update');
        const stale = staleEtag ?? fail('not run: needs "update"');
        const a = await call(
          'PUT',
          userPath(id),
          { ...trusted, 'if-match': stale },
          { name: 'backend-check lost update' },
        );
        expectStatus(a, 412, `PUT ${userPath(id)} with the If-Match of a replaced version`);
        expectErrorBody(a, 'the 412');
        const now = await call('GET', userPath(id), trusted);
        if ((now.json as { name?: unknown } | null)?.name !== name || now.etag !== etag) {
          fail('the refused PUT changed the user');
        }
        return 'PUT with a stale If-Match is 412 and changes nothing';
      },
    ],
    [
      'delete-if-match',
      async () => {
        const { id, etag, staleEtag } = needScratch(scratch, 'update');
        const stale = staleEtag ?? fail('not run: needs "update"');
        const refused = await call('DELETE', userPath(id), { ...trusted, 'if-match': stale });
        expectStatus(refused, 412, `DELETE ${userPath(id)} with a stale If-Match`);
        const a = await call('DELETE', userPath(id), { ...trusted, 'if-match': etag });
        if (a.status !== 204 && a.status !== 200) {
          fail(`DELETE with the current If-Match answered ${a.status}, want 204`);
        }
        const gone = await call('GET', userPath(id), trusted);
        expectStatus(gone, 404, 'GET after DELETE');
        delete scratch.id;
        return 'DELETE honours If-Match (412, then 204), and the user is gone';
      },
    ],
  ];

  const results: RuleResult[] = [];
  try {
    for (const [rule, body] of rules) {
      try {
        results.push({ rule, ok: true, reason: await body() });
      } catch (err) {
        results.push({ rule, ok: false, reason: reasonOf(err) });
      }
    }
  } finally {
    // A scratch user left by a failed rule is deleted unconditionally, as a courtesy.
    if (scratch.id !== undefined) {
      await call('DELETE', userPath(scratch.id), trusted).catch(() => undefined);
    }
  }
  return results;
}

function reasonOf(err: unknown): string {
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

function caller(options: BackendCheckOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Answer> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        // The sidecar always names the acting user; a backend may log it, never decide on it.
        [SUBJECT_HEADER]: options.userId,
        ...headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, etag: res.headers.get('etag'), json, text };
  };
}

/** Entry point called by `src/cli/main.ts`. */
export async function run(args: string[]): Promise<number> {
  let results: RuleResult[];
  try {
    results = await checkBackend(optionsOf(args));
  } catch (err) {
    if (!(err instanceof UnreachableError)) throw err;
    process.stderr.write(`cedargate backend-check: ${err.message}\n`);
    return 2;
  }
  const width = Math.max(...results.map((r) => r.rule.length));
  for (const r of results) {
    process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'}  ${r.rule.padEnd(width)}  ${r.reason}\n`);
  }
  const failed = results.filter((r) => !r.ok);
  process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  if (failed.length === 0) return 0;
  process.stderr.write(
    `cedargate backend-check: rules failed: ${failed.map((r) => r.rule).join(', ')}\n`,
  );
  return 1;
}

/** The command line as options; a wrong one is a UsageError. */
function optionsOf(args: string[]): BackendCheckOptions {
  const { values, positionals } = parseFlags(
    args,
    {
      tenant: { type: 'string' },
      user: { type: 'string' },
      'trust-secret': { type: 'string' },
      role: { type: 'string' },
      'timeout-ms': { type: 'string' },
    },
    USAGE,
    true,
  );
  if (positionals.length !== 1) {
    throw new UsageError(
      `${positionals.length === 0 ? 'missing URL' : `unexpected argument "${positionals[1]}"`}\nusage: ${USAGE}`,
    );
  }
  const baseUrl = positionals[0] as string;
  checkBaseUrl(baseUrl);
  const trustSecret = values['trust-secret'] ?? loadConfig('cli').trustSecret;
  if (trustSecret === undefined || trustSecret === '') {
    throw new UsageError(`missing --trust-secret (or TRUST_SECRET)\nusage: ${USAGE}`);
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 5000 : Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new UsageError(`--timeout-ms: a positive integer of milliseconds (e.g. 5000)`);
  }
  return {
    baseUrl,
    tenantId: required(values.tenant, 'tenant', USAGE),
    userId: required(values.user, 'user', USAGE),
    trustSecret,
    ...(values.role === undefined ? {} : { role: values.role }),
    timeoutMs,
  };
}

function checkBaseUrl(baseUrl: string): void {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new UsageError(`URL: not a URL: "${baseUrl}" (e.g. http://127.0.0.1:8081)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`URL: "${baseUrl}" must be http: or https: (e.g. http://127.0.0.1:8081)`);
  }
}
