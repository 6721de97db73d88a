/**
 * `cedargate policy validate|test|fmt|explain [DIR]` and `policy diff BASE CANDIDATE`: what a
 * policy author runs before a change ships. DIR defaults to $POLICY_DIR, then ./policies. Exit
 * codes: 0 fine, 1 a problem found (for diff: a decision changes), 2 a wrong command line.
 */
import { execFile } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { basename, dirname, join, resolve } from 'node:path';
import { createLogger } from '../common/logger.js';
import { loadPolicyCliConfig } from '../config.js';
import {
  DiffTooLargeError,
  diffPolicySets,
  renderDiff,
  type DiffReport,
} from '../policy/authoring/diff.js';
import { clauseTracerOf } from '../policy/authoring/clauses.js';
import { explainDecision, renderExplanation } from '../policy/authoring/explain.js';
import { createReplay, renderReplay } from '../policy/authoring/replay.js';
import { formatPolicies } from '../policy/authoring/fmt.js';
import {
  listTestFiles,
  mergeUsers,
  parseRequestFields,
  parseUsers,
  readTestFile,
  RefusedBodyError,
  requestOf,
  runSuite,
  selectCase,
  splitTestSpec,
  TestFileError,
  unknownRoleOf,
} from '../policy/authoring/test-suite.js';
import type { FileResult, TestFile, TestUser } from '../policy/authoring/test-suite.js';
import {
  conditionCoverageOf,
  conditionPercent,
  coverageOf,
  coveragePercent,
  meetsCoverage,
  renderConditionCoverage,
  renderCoverage,
} from '../policy/authoring/coverage.js';
import { renderJunit } from '../policy/authoring/junit.js';
import { listPolicyFiles, TESTS_DIR } from '../policy/policy-files.js';
import { resolvePolicyTarget, PolicyTargetError } from '../policy/policy-target.js';
import type { PolicyTarget } from '../policy/policy-target.js';
import {
  forbidsWithoutNotice,
  permitsThatNeverApply,
} from '../policy/authoring/policy-warnings.js';
import {
  compileLoadedSet,
  formatProblem,
  loadPolicySet,
  PolicyLoadError,
} from '../policy/policy-set.js';
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
  'cedargate policy validate|fmt [--check]|explain [DIR|FILE.cedar] | policy test [DIR|TESTS.yaml[:CASE]] ' +
  '| policy diff BASE CANDIDATE|--git REV [--json]' +
  ' | policy replay [LOGFILE|-] --against DIR [--json]';

const subcommands: Record<string, (args: string[]) => Promise<number>> = {
  validate: runValidate,
  test: runTest,
  fmt: runFmt,
  explain: runExplain,
  diff: runDiff,
  replay: runReplay,
};

/** One usage line per subcommand, for `cedargate policy --help`. */
const SUBCOMMAND_USAGES = [
  'cedargate policy validate [DIR|FILE.cedar] [--strict] [--quick|--thorough]',
  'cedargate policy test [DIR|TESTS.yaml[:CASE]] [--coverage] [--coverage-min N] [--coverage-conditions-min N] [--junit FILE]',
  'cedargate policy fmt [--check] [DIR|FILE.cedar]',
  'cedargate policy explain [DIR|FILE.cedar] (--request FILE.json | --principal ID --action A --resource ID ...)',
  'cedargate policy diff BASE CANDIDATE [--json] | policy diff --git REV [CANDIDATE] [--json]',
  'cedargate policy replay [LOGFILE|-] --against DIR [--json]',
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

/**
 * The one path a policy command was given (else $POLICY_DIR, then ./policies): a directory, a
 * `.cedar` file, or a test file spec (`FILE.yaml[:CASE]`, which `policy test` checks itself).
 * Anything else — a path that is not there, some other file — is one line, exit 2.
 */
function policyPathOf(positionals: string[], usageLine: string): string {
  if (positionals.length > 1) throw new UsageError(`expected at most one DIR\nusage: ${usageLine}`);
  const path = positionals[0] ?? loadPolicyCliConfig().policyDir;
  if (splitTestSpec(path) !== null || isCedarFile(path)) return path;
  assertDirectory(path, 'policy directory');
  return path;
}

function isCedarFile(path: string): boolean {
  if (!path.endsWith('.cedar')) return false;
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The policy directory or `.cedar` file a command was given (else $POLICY_DIR, then ./policies);
 * a path that is neither is a wrong command line, said in one line.
 */
async function policyTargetOf(
  positionals: string[],
  usageLine: string,
  options: { needsSchema?: boolean } = {},
): Promise<PolicyTarget> {
  const path = policyPathOf(positionals, usageLine);
  try {
    return await resolvePolicyTarget(path, options);
  } catch (err) {
    if (err instanceof PolicyTargetError) throw new UsageError(err.message);
    throw err;
  }
}

function printProblems(problems: PolicyProblem[]): void {
  for (const p of problems) {
    out(formatProblem(p));
    if (p.help !== undefined) out(`  help: ${p.help}`);
  }
}

/**
 * Loads and compiles the set of `target` as the sidecar's store does (the same loader, the same
 * engine; no cache, no watcher); when it does not load, prints its problems and gives null.
 */
async function openSet(target: PolicyTarget) {
  try {
    const set = await loadPolicySet(target.dir, target.file ?? undefined);
    return { set, compiled: compileLoadedSet(`policy-cli-${process.pid}`, set) };
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    return null;
  }
}

// --- validate --------------------------------------------------------------------------------

async function runValidate(args: string[]): Promise<number> {
  const usage =
    'cedargate policy validate [DIR|FILE.cedar] [--strict|--warnings-as-errors] [--quick|--thorough]';
  const { values, positionals } = parseFlags(
    args,
    {
      strict: { type: 'boolean', help: 'exit 1 on any warning' },
      'warnings-as-errors': { type: 'boolean', help: 'the same as --strict' },
      quick: { type: 'boolean', help: 'skip the permit reachability check (an editor save hook)' },
      thorough: {
        type: 'boolean',
        help: 'run the reachability check to the end, however many requests the roles plan',
      },
    },
    usage,
    true,
  );
  const target = await policyTargetOf(positionals, usage);
  let set;
  try {
    set = await loadPolicySet(target.dir, target.file ?? undefined);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in ${target.path}`);
    return 1;
  }
  const warnings = [...set.warnings, ...forbidsWithoutNotice(set)];
  // The enumeration stops as soon as every permit has allowed a request, so a set without a dead
  // permit pays a fraction of a full enumeration; --quick skips it for an editor's save hook.
  // A large role enum plans millions of requests: the check stops at a budget unless --thorough.
  const reach =
    values.quick === true
      ? null
      : permitsThatNeverApply(set, values.thorough === true ? { budget: Infinity } : {});
  if (reach !== null) warnings.push(...reach.warnings);
  warnings.sort(byPosition);
  for (const w of warnings) out(`warning: ${formatProblem(w)}`);
  const checked =
    reach === null
      ? 'permits not checked for reachability (--quick)'
      : reach.unconfirmed !== undefined
        ? `permit reachability stopped at ${reach.decided} of ${reach.planned} planned requests; ` +
          `not yet seen to apply: ${reach.unconfirmed.join(', ')} (--thorough looks to the end)`
        : `permits checked against ${reach.decided} enumerated requests${reach.exhaustive ? '' : ' (not exhaustive)'}`;
  out(
    `ok: ${set.policies.length} policies in ${set.files.length} files valid against ${join(target.dir, SCHEMA_FILE)} ` +
      `(roles: ${set.schema.roles.join(', ')}; version ${set.version}; ${checked})`,
  );
  const strict = values.strict === true || values['warnings-as-errors'] === true;
  if (strict && warnings.length > 0) {
    out(`${warnings.length} warning${warnings.length === 1 ? '' : 's'}, failing (--strict)`);
    return 1;
  }
  return 0;
}

function byPosition(a: PolicyProblem, b: PolicyProblem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.column - b.column;
}

// --- test ------------------------------------------------------------------------------------

async function runTest(args: string[]): Promise<number> {
  const usage =
    'cedargate policy test [DIR | TESTS.yaml[:CASE]] [--coverage] [--coverage-min N] [--coverage-conditions-min N] [--junit FILE]';
  const { values, positionals } = parseFlags(
    args,
    {
      coverage: { type: 'boolean' },
      'coverage-min': { type: 'string' },
      'coverage-conditions-min': { type: 'string' },
      junit: { type: 'string' },
    },
    usage,
    true,
  );
  const fail = (message: string): never => {
    throw new UsageError(`${message}\nusage: ${usage}`);
  };
  const coverageMin = parseCoverageMin(values['coverage-min'], '--coverage-min', fail);
  const conditionsMin = parseCoverageMin(
    values['coverage-conditions-min'],
    '--coverage-conditions-min',
    fail,
  );
  const { dir, paths, caseName } = await testTargetOf(positionals, usage, fail);
  if (paths.length === 0) {
    out(`no test files (*.yaml) in ${join(dir, TESTS_DIR)}`);
    out('0 passed, 0 failed');
    return 1;
  }
  const results: FileResult[] = [];
  const files: TestFile[] = [];
  for (const path of paths) {
    try {
      const f = await readTestFile(path);
      files.push(caseName === null ? f : selectCase(f, caseName));
    } catch (err) {
      if (!(err instanceof TestFileError)) throw err;
      // The one case asked for is not there: the command line is wrong, not the policies.
      if (caseName !== null) return fail(err.message);
      results.push({ file: path, problem: err.message, cases: [] });
    }
  }
  let set;
  try {
    set = await loadPolicySet(dir);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`the policies do not load; no case ran`);
    for (const f of files) {
      results.push({
        file: f.file,
        problem: null,
        cases: f.cases.map((c) => ({
          name: c.name,
          failure: 'the policies do not load',
          policies: [],
        })),
      });
    }
    return finishTest(results, values.junit, dir, null);
  }
  const compiled = compileLoadedSet(`policy-test-${process.pid}`, set);
  results.push(
    ...runSuite(files, { roles: set.schema.roles, decide: (r) => compiled.authorize(r) }),
  );
  results.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const f of results) {
    if (f.problem !== null)
      out(`FAIL  ${f.problem.startsWith(f.file) ? f.problem : `${f.file}: ${f.problem}`}`);
    for (const c of f.cases) {
      out(
        c.failure === null
          ? `PASS  ${f.file}: ${c.name}`
          : `FAIL  ${f.file}: ${c.name}: ${c.failure}`,
      );
    }
  }
  const wantCoverage = values.coverage === true || coverageMin !== null || conditionsMin !== null;
  return finishTest(
    results,
    values.junit,
    dir,
    wantCoverage ? { set, min: coverageMin, conditionsMin } : null,
  );
}

/** The summary line, the JUnit file and the coverage; the exit code. */
async function finishTest(
  results: FileResult[],
  junit: string | undefined,
  dir: string,
  coverage: {
    set: Awaited<ReturnType<typeof loadPolicySet>>;
    min: number | null;
    conditionsMin: number | null;
  } | null,
): Promise<number> {
  const cases = results.flatMap((f) => f.cases);
  const failed =
    cases.filter((c) => c.failure !== null).length +
    results.filter((f) => f.problem !== null).length;
  out(`${cases.length - cases.filter((c) => c.failure !== null).length} passed, ${failed} failed`);
  if (junit !== undefined) {
    await writeFile(junit, renderJunit(`cedargate policy test ${dir}`, results));
    out(`JUnit XML written to ${junit}`);
  }
  let low = false;
  if (coverage !== null) {
    const report = coverageOf(coverage.set.policies, results);
    out(renderCoverage(report, dir));
    if (coverage.min !== null && !meetsCoverage(report, coverage.min)) {
      out(`coverage ${coveragePercent(report)}% is below --coverage-min ${coverage.min}%`);
      low = true;
    }
    const conditions = conditionCoverageOf(clauseTracerOf(dir, coverage.set), results);
    out(renderConditionCoverage(conditions));
    const { conditionsMin } = coverage;
    if (conditionsMin !== null && Number(conditionPercent(conditions)) < conditionsMin) {
      out(
        `conditions coverage ${conditionPercent(conditions)}% is below --coverage-conditions-min ${conditionsMin}%`,
      );
      low = true;
    }
  }
  return failed > 0 || low ? 1 : 0;
}

function parseCoverageMin(
  raw: string | undefined,
  flag: string,
  fail: (message: string) => never,
): number | null {
  if (raw === undefined) return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) {
    return fail(`${flag} must be a percentage from 0 to 100, like ${flag} 90 (got "${raw}")`);
  }
  return n;
}

/**
 * What `policy test` runs: every `DIR/tests/*.yaml`, or one test file (`FILE.yaml[:CASE]`). A
 * test file is run against the policy directory its `tests/` folder is in; one kept elsewhere,
 * against $POLICY_DIR (then ./policies).
 */
async function testTargetOf(
  positionals: string[],
  usage: string,
  fail: (message: string) => never,
): Promise<{ dir: string; paths: string[]; caseName: string | null }> {
  const given = policyPathOf(positionals, usage);
  const spec = splitTestSpec(given);
  if (spec !== null) {
    const isFile = await stat(spec.file).then(
      (i) => i.isFile(),
      () => false,
    );
    if (!isFile) return fail(`${spec.file}: no such test file`);
    const testsDir = dirname(resolve(spec.file));
    const dir =
      basename(testsDir) === TESTS_DIR ? dirname(testsDir) : loadPolicyCliConfig().policyDir;
    return { dir, paths: [spec.file], caseName: spec.caseName };
  }
  if (given.endsWith('.cedar')) {
    return fail(
      `${given}: policy test runs test files (.yaml) against a whole policy directory; give the directory or one test file`,
    );
  }
  const isDir = await stat(given).then(
    (i) => i.isDirectory(),
    () => false,
  );
  if (!isDir) return fail(`${given}: no such policy directory`);
  return { dir: given, paths: await listTestFiles(join(given, TESTS_DIR)), caseName: null };
}

// --- fmt -------------------------------------------------------------------------------------

async function runFmt(args: string[]): Promise<number> {
  const usage = 'cedargate policy fmt [--check] [DIR|FILE.cedar]';
  const { values, positionals } = parseFlags(
    args,
    { check: { type: 'boolean', help: 'only report unformatted files (exit 1), change nothing' } },
    usage,
    true,
  );
  // Formatting needs no schema: any .cedar file will do.
  const target = await policyTargetOf(positionals, usage, { needsSchema: false });
  const dir = target.dir;
  const check = values.check === true;
  const files = target.file === null ? await listPolicyFiles(dir) : [target.file];
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
    'cedargate policy explain [DIR|FILE.cedar] (--request FILE.json | --principal ID --action A --resource ID ' +
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
  const target = await policyTargetOf(positionals, usage);
  const dir = target.dir;
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
  const explanation = explainDecision(dir, set, request, decision);
  out(values.json === true ? JSON.stringify(explanation, null, 2) : renderExplanation(explanation));
  return 0;
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
  let gitBase = '';
  if (values.git !== undefined) {
    if (positionals.length > 1) fail('with --git, expected at most one CANDIDATE');
    // The base is POLICY_DIR as committed at REV: REV is resolved in its repository, whatever
    // directory (a copy outside any repository, say) the candidate is.
    const policyDir = loadPolicyCliConfig().policyDir;
    candidateDir = positionals[0] ?? policyDir;
    if (candidateDir.endsWith('.cedar')) fail('--git compares whole policy directories: give one');
    gitBase = policyDir;
    const committed = await committedPolicyDir(values.git, policyDir, fail);
    baseDir = committed.dir;
    cleanup = committed.remove;
  } else {
    if (positionals.length !== 2) fail('expected BASE and CANDIDATE policy directories');
    [baseDir, candidateDir] = positionals as [string, string];
    // A .cedar file is read with the schema next to it (loadForDiff); anything else must be a
    // directory, said in one line.
    if (!isCedarFile(baseDir)) assertDirectory(baseDir, 'BASE policy directory');
    if (!isCedarFile(candidateDir)) assertDirectory(candidateDir, 'CANDIDATE policy directory');
  }
  try {
    const base = await loadForDiff(
      baseDir,
      values.git === undefined ? baseDir : `${values.git}:${gitBase}`,
    );
    const candidate = await loadForDiff(candidateDir, candidateDir);
    if (base === null || candidate === null) return 2;
    let report: DiffReport;
    try {
      report = diffPolicySets(base, candidate, {
        onProgress: (done, planned) =>
          process.stderr.write(`policy diff: ${done} of at most ${planned} requests decided\n`),
      });
    } catch (err) {
      if (!(err instanceof DiffTooLargeError)) throw err;
      process.stderr.write(`policy diff: ${err.message}\n`);
      return 2;
    }
    // The paths as given: a .cedar file side would otherwise be named by its directory.
    report.base = values.git === undefined ? baseDir : `${values.git}:${gitBase}`;
    report.candidate = candidateDir;
    out(values.json === true ? JSON.stringify(report, null, 2) : renderDiff(report));
    return report.classes.length > 0 || report.oneSided > 0 ? 1 : 0;
  } finally {
    await cleanup();
  }
}

/** Loads one side of a diff, a directory or one `.cedar` file; bad input is null (exit 2). */
async function loadForDiff(path: string, name: string) {
  let target: PolicyTarget;
  try {
    target = await resolvePolicyTarget(path);
  } catch (err) {
    if (!(err instanceof PolicyTargetError)) throw err;
    out(err.message);
    return null;
  }
  try {
    return await loadPolicySet(target.dir, target.file ?? undefined);
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

// --- replay ----------------------------------------------------------------------------------

const REPLAY_USAGE = 'cedargate policy replay [LOGFILE|-] --against DIR [--json]';

/**
 * Decides every request of a decision log again under the set in `--against`; exit 0 when no
 * answer changes, 1 when some do, 2 on bad input (a log that cannot be read, or holds no
 * replayable decision; a set that does not load).
 */
async function runReplay(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { against: { type: 'string' }, json: { type: 'boolean' } },
    REPLAY_USAGE,
    true,
  );
  if (positionals.length > 1)
    throw new UsageError(`expected at most one LOGFILE\nusage: ${REPLAY_USAGE}`);
  const dir = values.against;
  if (dir === undefined || dir === '')
    throw new UsageError(`missing --against DIR\nusage: ${REPLAY_USAGE}`);
  const source = positionals[0] ?? '-';
  const store = await openCandidate(dir);
  if (store === null) {
    out(`${dir}: the policies do not load`);
    return 2;
  }
  try {
    const replay = createReplay({
      against: dir,
      candidateVersion: store.current().version,
      decide: (request) => store.decide(request),
      knownRoles: store.current().roles,
    });
    const read = await readLines(source, (line) => replay.addLine(line));
    if (read !== null) {
      out(`${source}: ${read}`);
      return 2;
    }
    const report = replay.report();
    out(values.json === true ? JSON.stringify(report, null, 2) : renderReplay(report, source));
    if (report.replayed === 0) {
      out(`${source}: no replayable decision line (is the log written at LOG_LEVEL=info?)`);
      return 2;
    }
    return report.changed > 0 || report.refused.count > 0 ? 1 : 0;
  } finally {
    store.close();
  }
}

/** The candidate as the sidecar would serve it, its decision cache on (a log repeats itself). */
async function openCandidate(dir: string): Promise<PolicyStore | null> {
  try {
    return await createPolicyStore({
      dir,
      logger: createLogger('silent'),
      watch: false,
      pollMs: 0,
    });
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    return null;
  }
}

/** Feeds every line of `source` (`-`: stdin) to `onLine`; resolves to why it failed, or null. */
async function readLines(source: string, onLine: (line: string) => void): Promise<string | null> {
  const input = source === '-' ? process.stdin : createReadStream(source);
  const failed = new Promise<string>((resolve) =>
    input.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)),
  );
  const lines = createInterface({ input, crlfDelay: Infinity });
  const done = (async () => {
    for await (const line of lines) onLine(line);
    return null;
  })().catch((err: NodeJS.ErrnoException) => err.code ?? err.message);
  return Promise.race([done, failed]);
}
