/**
 * `cedargate backend-check URL --tenant T --user U [--trust-secret S] [--role R]`: drives a
 * users backend through the rules of docs/backend-contract.md — what the sidecar needs from any
 * backend it is put in front of — and prints each rule as PASS or FAIL with its reason.
 *
 * Exit 0 when every rule passes, 1 when one fails (each failure named), 2 for a wrong command
 * line or a backend that cannot be reached at all. It needs an existing tenant and one of its
 * users (`--tenant`, `--user`); it creates one scratch user in that tenant, and deletes it.
 */
import { SUBJECT_HEADER, TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { loadConfig } from '../config.js';
import {
  BACKEND_RULES,
  readinessCall,
  reasonOf,
  userPath,
  type Answer,
  type Call,
  type Trial,
} from './backend-check-rules.js';
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

/**
 * Runs every rule in order and returns their results. Throws UnreachableError when the first
 * call cannot reach the backend.
 */
export async function checkBackend(options: BackendCheckOptions): Promise<RuleResult[]> {
  const call = caller(options);
  const { tenantId, userId, trustSecret } = options;
  const trusted = { [TRUST_HEADER]: trustSecret, [TENANT_HEADER]: tenantId };
  const health = await firstCall(call, options);
  const role = options.role ?? 'user';
  const trial: Trial = { call, tenantId, userId, trustSecret, role, trusted, health, scratch: {} };
  try {
    return await runRules(trial);
  } finally {
    // A scratch user left by a failed rule is deleted unconditionally, as a courtesy.
    const { id } = trial.scratch;
    if (id !== undefined) await call('DELETE', userPath(id), trusted).catch(() => undefined);
  }
}

/** The readiness call, made first: it tells an unreachable backend (exit 2) from a failing one. */
async function firstCall(call: Call, options: BackendCheckOptions): Promise<Answer> {
  try {
    return await readinessCall(call, options.trustSecret);
  } catch (err) {
    throw new UnreachableError(
      `cannot reach ${options.baseUrl}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Each rule in turn; one that fails does not stop the others (they say what they need). */
async function runRules(trial: Trial): Promise<RuleResult[]> {
  const results: RuleResult[] = [];
  for (const [rule, body] of BACKEND_RULES) {
    try {
      results.push({ rule, ok: true, reason: await body(trial) });
    } catch (err) {
      results.push({ rule, ok: false, reason: reasonOf(err) });
    }
  }
  return results;
}

/** Calls to the backend at `baseUrl`, each read whole, none followed on a redirect. */
function caller(options: BackendCheckOptions): Call {
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (method, path, headers, body) => {
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
