/**
 * Policy test files (`POLICY_DIR/tests/*.yaml`): the users a file talks about and the cases,
 * each a request with the decision and notices it must get. Requests are built exactly as the
 * sidecar builds them (policy/question.ts) and decided by the same store.
 *
 * ```yaml
 * users:
 *   olivia: { tenant: acme, roles: [admin], owner: true }
 *   uma: { tenant: acme, roles: [user], name: Uma, avatar: null }
 * cases:
 *   - name: an admin may not grant admin
 *     principal: alice          # a user above
 *     action: users:update
 *     resource: uma             # a user; a tenant for users:list and users:create
 *     body: { roles: [admin] }  # the request body (or `context:` to give the context itself)
 *     expect: deny
 *     notices: [Only the tenant owner may grant or revoke the admin role.]
 *     policies: [only-owner-grants-admin]   # optional
 * ```
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkRoles, validateNewUser, validateUserPatch } from '../../common/validate.js';
import { CedargateError } from '../../errors.js';
import { avatarDigestOf } from '../context.js';
import { requestOfQuestion, type Question, type QuestionUser } from '../question.js';
import type { AuthzContext, AuthzRequest, Decision, UsersAction } from '../types.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS } from '../types.js';

/** A user a test file names: its key is its id. */
export interface TestUser {
  id: string;
  tenant: string;
  roles: string[];
  owner: boolean;
  name: string;
  avatar: string | null;
}

/** One request and what it must get. */
export interface TestCase {
  name: string;
  principal: string;
  action: UsersAction;
  resource: string;
  body?: Record<string, unknown>;
  context?: AuthzContext;
  expect: 'allow' | 'deny';
  notices?: string[];
  policies?: string[];
}

/** One test file. */
export interface TestFile {
  file: string;
  users: Map<string, TestUser>;
  cases: TestCase[];
}

/** A test file that is not what the format says. */
export class TestFileError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TestFileError';
  }
}

/**
 * A case's body that the API itself refuses (400, 413 or 422 before any decision): the case is
 * wrong whatever the policies say, so it fails rather than deciding a request that never is.
 */
export class RefusedBodyError extends Error {
  /** The API's own error, with its contract code and status. */
  readonly refusal: CedargateError;
  constructor(refusal: CedargateError) {
    super(`the API refuses the body (${refusal.status} ${refusal.code}): ${refusal.message}`, {
      cause: refusal,
    });
    this.name = 'RefusedBodyError';
    this.refusal = refusal;
  }
}

/**
 * Why one of `users` holds a role the schema does not name (null when none does). Such a user
 * could not be created through the API, and the sidecar would decide it as if it lacked the role
 * (retired roles are left out), so a case about it tests nothing real.
 */
export function unknownRoleOf(
  users: ReadonlyMap<string, TestUser>,
  allowedRoles: readonly string[],
): string | null {
  for (const u of users.values()) {
    const role = u.roles.find((r) => !allowedRoles.includes(r));
    if (role !== undefined) {
      return `user "${u.id}": role "${role}" is not in the schema's Role enum (${allowedRoles.join(', ')})`;
    }
  }
  return null;
}

/** The YAML files under `testsDir`, sorted; [] when there is no such directory. */
export async function listTestFiles(testsDir: string): Promise<string[]> {
  const names = await readdir(testsDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => !n.startsWith('.') && (n.endsWith('.yaml') || n.endsWith('.yml')))
    .sort()
    .map((n) => join(testsDir, n));
}

/** Reads and checks one test file; throws {@link TestFileError}. */
export async function readTestFile(path: string): Promise<TestFile> {
  return parseTestFile(path, await readFile(path, 'utf8'));
}

/** Parses and checks the text of a test file named `file`; throws {@link TestFileError}. */
export function parseTestFile(file: string, text: string): TestFile {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new TestFileError(file, err instanceof Error ? err.message : String(err));
  }
  const fail = (message: string): never => {
    throw new TestFileError(file, message);
  };
  const top = asRecord(doc, 'the file', fail);
  onlyKeys(top, ['users', 'cases'], 'the file', fail);
  const users = parseUsers(top['users'] ?? {}, fail);
  const rawCases = top['cases'];
  if (!Array.isArray(rawCases) || rawCases.length === 0) fail('`cases` must be a non-empty list');
  const cases = (rawCases as unknown[]).map((c, i) => parseCase(c, i, users, fail));
  return { file, users, cases };
}

/** The users of several files together; the same id defined twice differently is an error. */
export function mergeUsers(files: readonly TestFile[]): Map<string, TestUser> {
  const out = new Map<string, TestUser>();
  for (const f of files) {
    for (const [id, u] of f.users) {
      const known = out.get(id);
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(u)) {
        throw new TestFileError(f.file, `user "${id}" is defined differently in another test file`);
      }
      out.set(id, u);
    }
  }
  return out;
}

/** Parses a `users:` mapping (also used by `policy explain --request` files). */
export function parseUsers(raw: unknown, fail: (message: string) => never): Map<string, TestUser> {
  const users = new Map<string, TestUser>();
  for (const [id, value] of Object.entries(asRecord(raw, '`users`', fail))) {
    const where = `user "${id}"`;
    const u = asRecord(value, where, fail);
    onlyKeys(u, ['tenant', 'roles', 'owner', 'name', 'avatar'], where, fail);
    const tenant = u['tenant'];
    if (typeof tenant !== 'string' || tenant === '') fail(`${where}: \`tenant\` must be a string`);
    const roles = u['roles'] ?? [];
    if (!isStringList(roles)) fail(`${where}: \`roles\` must be a list of strings`);
    const owner = u['owner'] ?? false;
    if (typeof owner !== 'boolean') fail(`${where}: \`owner\` must be true or false`);
    const name = u['name'] ?? id;
    if (typeof name !== 'string') fail(`${where}: \`name\` must be a string`);
    const avatar = u['avatar'] ?? null;
    if (avatar !== null && typeof avatar !== 'string')
      fail(`${where}: \`avatar\` must be a string or null`);
    users.set(id, {
      id,
      tenant: tenant,
      roles: roles,
      owner: owner,
      name: name,
      avatar: avatar,
    });
  }
  return users;
}

function parseCase(
  raw: unknown,
  index: number,
  users: Map<string, TestUser>,
  fail: (message: string) => never,
): TestCase {
  const c = asRecord(raw, `case ${index + 1}`, fail);
  const name = typeof c['name'] === 'string' ? c['name'] : `case ${index + 1}`;
  const where = `case "${name}"`;
  onlyKeys(
    c,
    ['name', 'principal', 'action', 'resource', 'body', 'context', 'expect', 'notices', 'policies'],
    where,
    fail,
  );
  const out = parseRequestFields(c, where, fail);
  if (!users.has(out.principal)) fail(`${where}: no user "${out.principal}" in \`users\``);
  if (RESOURCE_KIND_OF[out.action] === 'User' && !users.has(out.resource)) {
    fail(`${where}: no user "${out.resource}" in \`users\``);
  }
  const expect = c['expect'];
  if (expect !== 'allow' && expect !== 'deny') fail(`${where}: \`expect\` must be allow or deny`);
  const testCase: TestCase = { ...out, name, expect: expect };
  for (const key of ['notices', 'policies'] as const) {
    const list = c[key];
    if (list === undefined) continue;
    if (!isStringList(list)) fail(`${where}: \`${key}\` must be a list of strings`);
    testCase[key] = list;
  }
  return testCase;
}

/** The request part of a case (principal, action, resource, body or context). */
export function parseRequestFields(
  c: Record<string, unknown>,
  where: string,
  fail: (message: string) => never,
): Pick<TestCase, 'principal' | 'action' | 'resource' | 'body' | 'context'> {
  const principal = c['principal'];
  if (typeof principal !== 'string') fail(`${where}: \`principal\` must name a user`);
  const action = c['action'];
  if (typeof action !== 'string' || !(USERS_ACTIONS as readonly string[]).includes(action)) {
    fail(`${where}: \`action\` must be one of ${USERS_ACTIONS.join(', ')}`);
  }
  const resource = c['resource'];
  if (typeof resource !== 'string')
    fail(`${where}: \`resource\` must name a user (or a tenant for list and create)`);
  const out: Pick<TestCase, 'principal' | 'action' | 'resource' | 'body' | 'context'> = {
    principal: principal,
    action: action as UsersAction,
    resource: resource,
  };
  if (c['body'] !== undefined && c['context'] !== undefined)
    fail(`${where}: give \`body\` or \`context\`, not both`);
  if (c['body'] !== undefined) out.body = asRecord(c['body'], `${where}: \`body\``, fail);
  if (c['context'] !== undefined) {
    const ctx = asRecord(c['context'], `${where}: \`context\``, fail);
    for (const [k, v] of Object.entries(ctx)) {
      if (typeof v !== 'string' && typeof v !== 'boolean' && !isStringList(v)) {
        fail(`${where}: context \`${k}\` must be a string, a boolean or a list of strings`);
      }
    }
    out.context = ctx as AuthzContext;
  }
  return out;
}

/**
 * The request the sidecar would decide for this case: the principal and resource facts from the
 * users, and the context built from the body by the sidecar's own builders, after the body passed
 * the API's own validators (`allowedRoles`: the schema's roles). Throws {@link RefusedBodyError}
 * for a body the API refuses; a create or update case without `body` or `context` sends none,
 * which the API refuses too.
 */
export function requestOf(
  c: Pick<TestCase, 'principal' | 'action' | 'resource' | 'body' | 'context'>,
  users: ReadonlyMap<string, TestUser>,
  allowedRoles: readonly string[],
): AuthzRequest {
  const question: Question = {
    action: c.action,
    tenantId: c.resource,
    principal: questionUserOf(userNamed(users, c.principal)),
    context: c.context,
  };
  if (RESOURCE_KIND_OF[c.action] === 'User')
    question.target = questionUserOf(userNamed(users, c.resource));
  // Only a body the policies would read is validated: a read's stray body is never sent.
  if (c.context === undefined && c.action === 'users:create')
    question.input = accepted(() => validateNewUser(c.body ?? {}), allowedRoles);
  if (c.context === undefined && c.action === 'users:update')
    question.input = accepted(() => validateUserPatch(c.body ?? {}), allowedRoles);
  return requestOfQuestion(question);
}

function userNamed(users: ReadonlyMap<string, TestUser>, id: string): TestUser {
  const user = users.get(id);
  if (user === undefined) throw new Error(`no user "${id}"`);
  return user;
}

function questionUserOf(u: TestUser): QuestionUser {
  return {
    id: u.id,
    tenant_id: u.tenant,
    roles: u.roles,
    is_owner: u.owner,
    name: u.name,
    avatar_digest: avatarDigestOf(u.avatar),
  };
}

/** The body as the API accepts it (shape, then roles, in the contract's order), or a refusal. */
function accepted<T extends { roles?: string[] }>(
  validate: () => T,
  allowedRoles: readonly string[],
): T {
  try {
    const body = validate();
    if (body.roles !== undefined) checkRoles(body.roles, allowedRoles);
    return body;
  } catch (err) {
    if (err instanceof CedargateError) throw new RefusedBodyError(err);
    throw err;
  }
}

/** Why a decision does not meet a case's expectations; null when it does. */
export function checkCase(c: TestCase, d: Omit<Decision, 'cached'>): string | null {
  const got = d.allowed ? 'allow' : 'deny';
  const problems: string[] = [];
  if (got !== c.expect) problems.push(`expected ${c.expect}, got ${got}`);
  if (
    c.notices !== undefined &&
    JSON.stringify([...c.notices].sort()) !== JSON.stringify([...d.notices].sort())
  ) {
    problems.push(
      `expected notices ${JSON.stringify(c.notices)}, got ${JSON.stringify(d.notices)}`,
    );
  }
  if (
    c.policies !== undefined &&
    JSON.stringify([...c.policies].sort()) !== JSON.stringify(d.policies)
  ) {
    problems.push(
      `expected policies ${JSON.stringify(c.policies)}, got ${JSON.stringify(d.policies)}`,
    );
  }
  if (problems.length === 0) return null;
  const detail = d.policies.length > 0 ? ` (policies: ${d.policies.join(', ')})` : '';
  const errors = d.errors.length > 0 ? ` (errors: ${d.errors.join('; ')})` : '';
  return problems.join('; ') + detail + errors;
}

function asRecord(
  value: unknown,
  what: string,
  fail: (message: string) => never,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`${what} must be a mapping`);
  return value as Record<string, unknown>;
}

function onlyKeys(
  r: Record<string, unknown>,
  allowed: string[],
  what: string,
  fail: (message: string) => never,
): void {
  const unknown = Object.keys(r).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) fail(`${what}: unknown key ${unknown.map((k) => `\`${k}\``).join(', ')}`);
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * `FILE.yaml[:CASE]`, split: case names may hold colons ("rule 4: …"), so the file part ends at
 * the first `.yaml:` or `.yml:`. Null when `spec` names no YAML file (a policy directory).
 */
export function splitTestSpec(spec: string): { file: string; caseName: string | null } | null {
  const m = /^(.*?\.ya?ml)(?::(.*))?$/s.exec(spec);
  if (m === null) return null;
  return { file: m[1] ?? spec, caseName: m[2] ?? null };
}

/** `f` with only the case named `name`; throws {@link TestFileError} naming the cases there are. */
export function selectCase(f: TestFile, name: string): TestFile {
  const cases = f.cases.filter((c) => c.name === name);
  if (cases.length === 0) {
    throw new TestFileError(
      f.file,
      `no case named "${name}" (cases: ${f.cases.map((c) => JSON.stringify(c.name)).join(', ')})`,
    );
  }
  return { ...f, cases };
}

/** What decides a suite's requests: the sidecar's store, or a set compiled the same way. */
export interface SuiteDecider {
  /** The schema's roles: a body naming another is refused, as the API refuses it. */
  roles: readonly string[];
  decide(request: AuthzRequest): Omit<Decision, 'cached'>;
}

/** One case's outcome. */
export interface CaseResult {
  name: string;
  /** Why it fails; null when it passes. */
  failure: string | null;
  /** The determining policies of its decision; [] when no decision was made (a refused body). */
  policies: string[];
}

/** One test file's outcome: `problem` when the file as a whole fails (its cases did not run). */
export interface FileResult {
  file: string;
  problem: string | null;
  cases: CaseResult[];
}

/** Runs every case of `files` with `decider`, in order. */
export function runSuite(files: readonly TestFile[], decider: SuiteDecider): FileResult[] {
  return files.map((f) => {
    const unknownRole = unknownRoleOf(f.users, decider.roles);
    if (unknownRole !== null) return { file: f.file, problem: unknownRole, cases: [] };
    return { file: f.file, problem: null, cases: f.cases.map((c) => runCase(c, f, decider)) };
  });
}

function runCase(c: TestCase, f: TestFile, decider: SuiteDecider): CaseResult {
  let request: AuthzRequest;
  try {
    request = requestOf(c, f.users, decider.roles);
  } catch (err) {
    if (err instanceof RefusedBodyError)
      return { name: c.name, failure: err.message, policies: [] };
    throw err;
  }
  const decision = decider.decide(request);
  return { name: c.name, failure: checkCase(c, decision), policies: decision.policies };
}
