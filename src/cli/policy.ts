/**
 * `cedargate policy validate|test|fmt|explain [DIR]` and `policy diff BASE CANDIDATE`: what a
 * policy author runs before a change ships. DIR defaults to $POLICY_DIR, then ./policies. Exit
 * codes: 0 fine, 1 a problem found (for diff: a decision changes), 2 a wrong command line.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '../common/logger.js';
import { loadPolicyCliConfig } from '../config.js';
import { diffPolicySets, renderDiff } from '../policy/diff.js';
import { explainDecision, renderExplanation } from '../policy/explain.js';
import { formatPolicies } from '../policy/fmt.js';
import {
  checkCase,
  listTestFiles,
  mergeUsers,
  parseRequestFields,
  parseUsers,
  readTestFile,
  RefusedBodyError,
  requestOf,
  TestFileError,
  unknownRoleOf,
} from '../policy/test-suite.js';
import type { TestCase, TestFile, TestUser } from '../policy/test-suite.js';
import { listPolicyFiles } from '../policy/policy-files.js';
import { formatProblem, loadPolicySet, PolicyLoadError } from '../policy/policy-set.js';
import type { PolicyProblem } from '../policy/policy-set.js';
import { createPolicyStore } from '../sidecar/authz/policy-store.js';
import type { PolicyStore } from '../sidecar/authz/policy-store.js';
import { SCHEMA_FILE } from '../policy/schema.js';
import { RESOURCE_KIND_OF } from '../policy/types.js';
import type { AuthzRequest } from '../policy/types.js';
import {
  assertDirectory,
  HelpRequested,
  parseFlags,
  subcommandsHelp,
  UsageError,
  wantsHelp,
} from './usage.js';

const USAGE =
  'cedargate policy validate|test|fmt [--check]|explain [DIR] | policy diff BASE CANDIDATE|--git REV [--json]';

const subcommands: Record<string, (args: string[]) => Promise<number>> = {
  validate: runValidate,
  test: runTest,
  fmt: runFmt,
  explain: runExplain,
  diff: runDiff,
};

/** One usage line per subcommand, for `cedargate policy --help`. */
const SUBCOMMAND_USAGES = [
  'cedargate policy validate [DIR]',
  'cedargate policy test [DIR]',
  'cedargate policy fmt [--check] [DIR]',
  'cedargate policy explain [DIR] (--request FILE.json | --principal ID --action A --resource ID ...)',
  'cedargate policy diff BASE CANDIDATE [--json] | policy diff --git REV [CANDIDATE] [--json]',
];

/** Entry point of `cedargate policy ...`. */
export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined ? false : wantsHelp([name])) {
    throw new HelpRequested(subcommandsHelp('policy', SUBCOMMAND_USAGES));
  }
  const sub = name === undefined ? undefined : subcommands[name];
  if (sub === undefined) {
    throw new UsageError(
      `${name === undefined ? 'missing subcommand' : `unknown subcommand "${name}"`}\nusage: ${USAGE}`,
    );
  }
  return sub(rest);
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function policyDirOf(positionals: string[], usageLine: string): string {
  if (positionals.length > 1) throw new UsageError(`expected at most one DIR\nusage: ${usageLine}`);
  const dir = positionals[0] ?? loadPolicyCliConfig().policyDir;
  assertDirectory(dir, 'policy directory');
  return dir;
}

function printProblems(problems: PolicyProblem[]): void {
  for (const p of problems) {
    out(formatProblem(p));
    if (p.help !== undefined) out(`  help: ${p.help}`);
  }
}

/**
 * Loads the store the sidecar would load, quietly; when the policies do not load, prints their
 * problems (the CLI's own format) and gives null.
 */
async function openStore(dir: string): Promise<PolicyStore | null> {
  try {
    return await createPolicyStore({
      dir,
      logger: createLogger('silent'),
      watch: false,
      pollMs: 0,
      decisionCacheMax: 0,
    });
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    return null;
  }
}

// --- validate --------------------------------------------------------------------------------

async function runValidate(args: string[]): Promise<number> {
  const usage = 'cedargate policy validate [DIR]';
  const { positionals } = parseFlags(args, {}, usage, true);
  const dir = policyDirOf(positionals, usage);
  try {
    const set = await loadPolicySet(dir);
    for (const w of set.warnings) out(`${w.file}:${w.line}:${w.column}: warning: ${w.message}`);
    out(
      `ok: ${set.policies.length} policies in ${set.files.length} files valid against ${join(dir, SCHEMA_FILE)} ` +
        `(roles: ${set.schema.roles.join(', ')}; version ${set.version})`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in ${dir}`);
    return 1;
  }
}

// --- test ------------------------------------------------------------------------------------

async function runTest(args: string[]): Promise<number> {
  const usage = 'cedargate policy test [DIR]';
  const { positionals } = parseFlags(args, {}, usage, true);
  const dir = policyDirOf(positionals, usage);
  const paths = await listTestFiles(join(dir, 'tests'));
  if (paths.length === 0) {
    out(`no test files (*.yaml) in ${join(dir, 'tests')}`);
    out('0 passed, 0 failed');
    return 1;
  }
  let passed = 0;
  let failed = 0;
  const files: TestFile[] = [];
  for (const path of paths) {
    try {
      files.push(await readTestFile(path));
    } catch (err) {
      if (!(err instanceof TestFileError)) throw err;
      out(`FAIL  ${err.message}`);
      failed++;
    }
  }
  const store = await openStore(dir);
  if (store === null) {
    const cases = files.reduce((n, f) => n + f.cases.length, 0);
    out(`the policies do not load; no case ran`);
    out(`0 passed, ${failed + cases} failed`);
    return 1;
  }
  try {
    const roles = store.current().roles;
    for (const f of files) {
      const unknownRole = unknownRoleOf(f.users, roles);
      if (unknownRole !== null) {
        out(`FAIL  ${f.file}: ${unknownRole}`);
        failed++;
        continue;
      }
      for (const c of f.cases) {
        const why = whyCaseFails(c, f.users, store);
        if (why === null) {
          passed++;
          out(`PASS  ${f.file}: ${c.name}`);
        } else {
          failed++;
          out(`FAIL  ${f.file}: ${c.name}: ${why}`);
        }
      }
    }
  } finally {
    store.close();
  }
  out(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

/** Why a case fails (null: it passes); a body the API refuses fails it before any decision. */
function whyCaseFails(
  c: TestCase,
  users: ReadonlyMap<string, TestUser>,
  store: PolicyStore,
): string | null {
  let request: AuthzRequest;
  try {
    request = requestOf(c, users, store.current().roles);
  } catch (err) {
    if (err instanceof RefusedBodyError) return err.message;
    throw err;
  }
  return checkCase(c, store.decide(request));
}

// --- fmt -------------------------------------------------------------------------------------

async function runFmt(args: string[]): Promise<number> {
  const usage = 'cedargate policy fmt [--check] [DIR]';
  const { values, positionals } = parseFlags(
    args,
    { check: { type: 'boolean', help: 'only report unformatted files (exit 1), change nothing' } },
    usage,
    true,
  );
  const dir = policyDirOf(positionals, usage);
  const check = values.check === true;
  const files = await listPolicyFiles(dir);
  let changed = 0;
  let broken = 0;
  for (const rel of files) {
    const path = join(dir, rel);
    const text = await readFile(path, 'utf8');
    const outcome = formatPolicies(text);
    switch (outcome.kind) {
      case 'unchanged':
        break;
      case 'invalid':
        broken++;
        for (const p of outcome.problems) out(`${path}: does not parse: ${p.message}`);
        break;
      case 'refused':
        broken++;
        out(`${path}: not formatted: ${outcome.reason}`);
        break;
      case 'formatted':
        changed++;
        if (check) {
          out(path);
        } else {
          await writeFile(path, outcome.text);
          out(`formatted ${path}`);
        }
        break;
    }
  }
  const verb = check ? 'would change' : 'changed';
  out(
    `${files.length} files checked, ${changed} ${verb}${broken > 0 ? `, ${broken} not formattable` : ''}`,
  );
  return broken > 0 || (check && changed > 0) ? 1 : 0;
}

// --- explain ---------------------------------------------------------------------------------

async function runExplain(args: string[]): Promise<number> {
  const usage =
    'cedargate policy explain [DIR] (--request FILE.json | --principal ID --action A --resource ID ' +
    '[--body JSON | --context JSON]) [--entities TESTS.yaml] [--json]';
  const { values, positionals } = parseFlags(
    args,
    {
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
    usage,
    true,
  );
  const dir = policyDirOf(positionals, usage);
  const fail = (message: string): never => {
    throw new UsageError(`${message}\nusage: ${usage}`);
  };

  // The request: a JSON file, or flags; flags given with --request override its fields.
  let raw: Record<string, unknown> = {};
  let requestDir = process.cwd();
  if (values.request !== undefined) {
    raw = parseJsonObject(
      await readFile(values.request, 'utf8'),
      `--request ${values.request}`,
      fail,
    );
    requestDir = dirname(resolve(values.request));
  }
  for (const key of ['principal', 'action', 'resource'] as const) {
    if (values[key] !== undefined) raw[key] = values[key];
  }
  if (values.body !== undefined) raw['body'] = parseJsonObject(values.body, '--body', fail);
  if (values.context !== undefined)
    raw['context'] = parseJsonObject(values.context, '--context', fail);
  const fields = parseRequestFields(raw, 'the request', fail);

  const users = await explainUsers(dir, values.entities, raw, requestDir, fail);
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

  const store = await openStore(dir);
  if (store === null) return 1;
  try {
    // Only the users the request names: another test file's stray user is not this request's.
    const unknownRole = unknownRoleOf(named, store.current().roles);
    if (unknownRole !== null) {
      out(`the request: ${unknownRole}`);
      return 1;
    }
    let request: AuthzRequest;
    try {
      request = requestOf(fields, users, store.current().roles);
    } catch (err) {
      if (!(err instanceof RefusedBodyError)) throw err;
      out(`the request: ${err.message}`);
      return 1;
    }
    const explanation = explainDecision(dir, store.current(), request, store.decide(request));
    out(
      values.json === true ? JSON.stringify(explanation, null, 2) : renderExplanation(explanation),
    );
    return 0;
  } finally {
    store.close();
  }
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
  fail: (message: string) => never,
): Promise<Map<string, TestUser>> {
  try {
    if (entitiesFlag !== undefined) return (await readTestFile(entitiesFlag)).users;
    if (raw['users'] !== undefined) return parseUsers(raw['users'], fail);
    if (typeof raw['entities'] === 'string')
      return (await readTestFile(resolve(requestDir, raw['entities']))).users;
    const files = await Promise.all(
      (await listTestFiles(join(dir, 'tests'))).map((p) => readTestFile(p)),
    );
    return mergeUsers(files);
  } catch (err) {
    if (err instanceof TestFileError) return fail(err.message);
    throw err;
  }
}

function parseJsonObject(
  text: string,
  what: string,
  fail: (message: string) => never,
): Record<string, unknown> {
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

// --- diff ------------------------------------------------------------------------------------

const execFileAsync = promisify(execFile);

async function runDiff(args: string[]): Promise<number> {
  const usage =
    'cedargate policy diff BASE CANDIDATE [--json] | policy diff --git REV [CANDIDATE] [--json]';
  const { values, positionals } = parseFlags(
    args,
    {
      json: { type: 'boolean', help: 'print the differences as JSON' },
      git: { type: 'string', value: 'REV', help: 'compare against the policies committed at REV' },
    },
    usage,
    true,
  );
  const fail = (message: string): never => {
    throw new UsageError(`${message}\nusage: ${usage}`);
  };
  let baseDir: string;
  let candidateDir: string;
  let cleanup: () => Promise<void> = () => Promise.resolve();
  if (values.git !== undefined) {
    if (positionals.length > 1) fail('with --git, expected at most one CANDIDATE');
    candidateDir = positionals[0] ?? loadPolicyCliConfig().policyDir;
    const committed = await committedPolicyDir(values.git, candidateDir, fail);
    baseDir = committed.dir;
    cleanup = committed.remove;
  } else {
    if (positionals.length !== 2) fail('expected BASE and CANDIDATE policy directories');
    [baseDir, candidateDir] = positionals as [string, string];
    assertDirectory(baseDir, 'BASE policy directory');
    assertDirectory(candidateDir, 'CANDIDATE policy directory');
  }
  try {
    const base = await loadForDiff(
      baseDir,
      values.git === undefined ? baseDir : `${values.git}:${candidateDir}`,
    );
    const candidate = await loadForDiff(candidateDir, candidateDir);
    if (base === null || candidate === null) return 2;
    const report = diffPolicySets(base, candidate, {
      onProgress: (done, planned) =>
        process.stderr.write(`policy diff: ${done} of at most ${planned} requests decided\n`),
    });
    if (values.git !== undefined) report.base = `${values.git}:${candidateDir}`;
    out(values.json === true ? JSON.stringify(report, null, 2) : renderDiff(report));
    return report.classes.length > 0 ? 1 : 0;
  } finally {
    await cleanup();
  }
}

/** Loads one side of a diff; a set that does not load is bad input (null: exit 2). */
async function loadForDiff(dir: string, name: string) {
  try {
    return await loadPolicySet(dir);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`${name}: the policies do not load`);
    return null;
  }
}

/**
 * The committed version of policy directory `dir` at `rev`, written into a temp dir through
 * `git ls-tree` and `git show` (the working tree is not touched).
 */
async function committedPolicyDir(
  rev: string,
  dir: string,
  fail: (message: string) => never,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const git = async (...args: string[]) =>
    (await execFileAsync('git', ['-C', dir, ...args], { maxBuffer: 64 << 20 })).stdout;
  let prefix: string;
  let files: string[];
  try {
    prefix = (await git('rev-parse', '--show-prefix')).trim();
    files = (
      await git('ls-tree', '-r', '-z', '--full-name', '--name-only', `${rev}^{tree}`, '--', '.')
    )
      .split('\0')
      .filter((f) => f !== '');
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    return fail(`--git ${rev}: ${stderr.trim().split('\n')[0] ?? 'git failed'}`);
  }
  if (files.length === 0) fail(`--git ${rev}: ${dir} holds no committed files at ${rev}`);
  const tmp = await mkdtemp(join(tmpdir(), 'cedargate-diff-'));
  try {
    for (const file of files) {
      // ls-tree names files from the repository root, `prefix` (the dir) included.
      const rel = file.startsWith(prefix) ? file.slice(prefix.length) : file;
      const text = await git('show', `${rev}:${file}`);
      await mkdir(dirname(join(tmp, rel)), { recursive: true });
      await writeFile(join(tmp, rel), text);
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { dir: tmp, remove: () => rm(tmp, { recursive: true, force: true }) };
}
