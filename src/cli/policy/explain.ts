/**
 * `cedargate policy explain`: one request decided against the set as the sidecar decides it, with
 * the policies that decided and their notices. Exit 0 explained (allow or deny), 1 the set does
 * not load or the API would refuse the request, 2 a wrong command line.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { clauseTracerOf } from '../../policy/authoring/clauses.js';
import { explainDecision, renderExplanation } from '../../policy/authoring/explain.js';
import {
  listTestFiles,
  mergeUsers,
  parseRequestFields,
  parseUsers,
  readTestFile,
  RefusedBodyError,
  requestOf,
  TestFileError,
  unknownRoleOf,
} from '../../policy/authoring/test-suite.js';
import type { TestUser } from '../../policy/authoring/test-suite.js';
import { RESOURCE_KIND_OF } from '../../policy/types.js';
import type { AuthzRequest } from '../../policy/types.js';
import { parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { DECIDER_HELP, deciderLine, deciderReportOf, out } from './output.js';
import { openSet, policyTargetOf } from './target.js';

export const usage = {
  line:
    'cedargate policy explain [DIR|FILE.cedar] (--request FILE.json | --principal ID --action A --resource ID ' +
    '[--body JSON | --context JSON]) [--entities TESTS.yaml] [--json]',
  flags: {
    request: { type: 'string', value: 'FILE.json', help: 'the whole request as one JSON file' },
    principal: { type: 'string', value: 'ID', help: 'the acting user' },
    action: { type: 'string', value: 'A', help: 'users:list|read|create|update|delete' },
    resource: { type: 'string', value: 'ID', help: 'the target user (or tenant)' },
    body: { type: 'string', value: 'JSON', help: 'the request body the context is built from' },
    context: { type: 'string', value: 'JSON', help: 'the Cedar context, as is' },
    entities: {
      type: 'string',
      value: 'TESTS.yaml',
      help: 'users to decide on, from a test file',
    },
    json: { type: 'boolean', help: 'print the explanation as JSON' },
  },
  description: DECIDER_HELP,
} satisfies CommandUsage;

type Fail = (message: string) => never;
type Values = ReturnType<typeof parseCommandLine<typeof usage>>['values'];

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const target = await policyTargetOf(positionals, usage.line);
  const dir = target.dir;
  const fail: Fail = (message) => {
    throw new UsageError(`${message}\nusage: ${usage.line}`);
  };
  const { raw, requestDir } = await rawRequestOf(values, fail);
  const fields = parseRequestFields(raw, 'the request', fail);
  const users = await explainUsers(dir, values.entities, raw, requestDir, fail);
  if (users === null) return 1;
  const named = new Map<string, TestUser>();
  for (const id of [
    fields.principal,
    ...(RESOURCE_KIND_OF[fields.action] === 'User' ? [fields.resource] : []),
  ]) {
    const user = users.get(id);
    if (user === undefined)
      fail(`no user "${id}" in the entities (give --entities FILE or "users" in the request file)`);
    else named.set(id, user);
  }

  const opened = await openSet(target);
  if (opened === null) return 1;
  const { set, compiled } = opened;
  // Only the users the request names: another test file's stray user is not this request's.
  const unknownRole = unknownRoleOf(named, set.schema.roles);
  if (unknownRole !== null) {
    out(`the request: ${unknownRole}`);
    return 1;
  }
  let request: AuthzRequest;
  try {
    request = requestOf(fields, users, set.schema.roles);
  } catch (err) {
    if (!(err instanceof RefusedBodyError)) throw err;
    out(`the request: ${err.message}`);
    return 1;
  }
  const decision = { ...compiled.authorize(request), cached: false };
  // Only a default deny is traced: the analysis costs a compile the other answers do not need.
  const tracer =
    !decision.allowed && decision.policies.length === 0 ? clauseTracerOf(dir, set) : undefined;
  const explanation = explainDecision(dir, set, request, decision, tracer);
  const decider = deciderReportOf(compiled);
  out(
    values.json === true
      ? JSON.stringify({ ...explanation, decider }, null, 2)
      : `${renderExplanation(explanation)}${deciderLine(decider)}`,
  );
  return 0;
}

/**
 * The request as given: a JSON file, or flags; flags given with --request override its fields.
 * `requestDir` is where the file's relative paths start.
 */
async function rawRequestOf(
  values: Values,
  fail: Fail,
): Promise<{ raw: Record<string, unknown>; requestDir: string }> {
  let raw: Record<string, unknown> = {};
  let requestDir = process.cwd();
  if (values.request !== undefined) {
    const text = await readFile(values.request, 'utf8');
    raw = parseJsonObject(text, `--request ${values.request}`, fail);
    requestDir = dirname(resolve(values.request));
  }
  for (const key of ['principal', 'action', 'resource'] as const) {
    if (values[key] !== undefined) raw[key] = values[key];
  }
  if (values.body !== undefined) raw['body'] = parseJsonObject(values.body, '--body', fail);
  if (values.context !== undefined)
    raw['context'] = parseJsonObject(values.context, '--context', fail);
  return { raw, requestDir };
}

/**
 * The users an explained request may name: `--entities FILE` (a test file), else the request
 * file's own `users` or `entities` (a test file's path, relative to the request file), else all
 * the test files of DIR/tests together.
 */
async function explainUsers(
  dir: string,
  entitiesFlag: string | undefined,
  raw: Record<string, unknown>,
  requestDir: string,
  fail: Fail,
): Promise<Map<string, TestUser> | null> {
  try {
    if (entitiesFlag !== undefined) return (await readTestFile(entitiesFlag)).users;
    if (raw['users'] !== undefined) return parseUsers(raw['users'], fail);
    if (typeof raw['entities'] === 'string')
      return (await readTestFile(resolve(requestDir, raw['entities']))).users;
  } catch (err) {
    if (err instanceof TestFileError) return fail(err.message);
    throw err;
  }
  try {
    const files = await Promise.all(
      (await listTestFiles(join(dir, 'tests'))).map((p) => readTestFile(p)),
    );
    return mergeUsers(files);
  } catch (err) {
    // The command line is right: the policy directory's own test files are what is wrong.
    if (!(err instanceof TestFileError)) throw err;
    out(`the entities: ${err.message} (give --entities FILE to use one test file's users)`);
    return null;
  }
}

function parseJsonObject(text: string, what: string, fail: Fail): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`${what}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`${what}: must be a JSON object`);
  return value as Record<string, unknown>;
}
