/**
 * `cedargate policy test`: the YAML cases of DIR/tests (or one test file, or one case of it)
 * against the set, with coverage and a JUnit report. Exit 0 every case passes (and coverage meets
 * --coverage-min and --coverage-conditions-min), 1 otherwise, 2 a wrong command line.
 */
import { stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { loadPolicyCliConfig } from '../../config.js';
import { clauseTracerOf } from '../../policy/authoring/clauses.js';
import {
  conditionCoverageOf,
  conditionPercent,
  coverageOf,
  coveragePercent,
  meetsCoverage,
  renderConditionCoverage,
  renderCoverage,
} from '../../policy/authoring/coverage.js';
import { renderJunit } from '../../policy/authoring/junit.js';
import {
  listTestFiles,
  readTestFile,
  runSuite,
  selectCase,
  splitTestSpec,
  TestFileError,
} from '../../policy/authoring/test-suite.js';
import type { FileResult, TestFile } from '../../policy/authoring/test-suite.js';
import { TESTS_DIR } from '../../policy/policy-files.js';
import { compileLoadedSet, loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { LoadedPolicySet } from '../../policy/policy-set.js';
import { parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { DECIDER_HELP, deciderLine, deciderReportOf, out, printProblems } from './output.js';
import { policyPathOf } from './target.js';

export const usage = {
  line: 'cedargate policy test [DIR|TESTS.yaml[:CASE]] [--coverage] [--coverage-min N] [--coverage-conditions-min N] [--junit FILE]',
  flags: {
    coverage: {
      type: 'boolean',
      help: 'print which policies the cases exercised, and which conditions they saw true and false',
    },
    'coverage-min': {
      type: 'string',
      value: 'N',
      help: 'exit 1 when under N percent of the policies are exercised (implies --coverage)',
    },
    'coverage-conditions-min': {
      type: 'string',
      value: 'N',
      help: 'exit 1 when under N percent of the when/unless atoms were seen both true and false (implies --coverage)',
    },
    junit: { type: 'string', value: 'FILE', help: 'also write the results as JUnit XML to FILE' },
  },
  description: DECIDER_HELP,
} satisfies CommandUsage;

type Fail = (message: string) => never;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const fail: Fail = (message) => {
    throw new UsageError(`${message}\nusage: ${usage.line}`);
  };
  const coverageMin = parseCoverageMin(values['coverage-min'], '--coverage-min', fail);
  const conditionsMin = parseCoverageMin(
    values['coverage-conditions-min'],
    '--coverage-conditions-min',
    fail,
  );
  const { dir, paths, caseName } = await testTargetOf(positionals, fail);
  if (paths.length === 0) {
    out(`no test files (*.yaml) in ${join(dir, TESTS_DIR)}`);
    out('0 passed, 0 failed');
    return 1;
  }
  const { files, results } = await readTestFiles(paths, caseName, fail);
  let set;
  try {
    set = await loadPolicySet(dir);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`the policies do not load; no case ran`);
    results.push(...files.map(failedToLoad));
    return finishTest(results, values.junit, dir, null);
  }
  const compiled = compileLoadedSet(`policy-test-${process.pid}`, set);
  results.push(
    ...runSuite(files, { roles: set.schema.roles, decide: (r) => compiled.authorize(r) }),
  );
  results.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  printResults(results);
  out(deciderLine(deciderReportOf(compiled), compiled.stats));
  const wantCoverage = values.coverage === true || coverageMin !== null || conditionsMin !== null;
  return finishTest(
    results,
    values.junit,
    dir,
    wantCoverage ? { set, min: coverageMin, conditionsMin } : null,
  );
}

/** The test files (cut to the one case asked for); a file that does not read is a result. */
async function readTestFiles(
  paths: string[],
  caseName: string | null,
  fail: Fail,
): Promise<{ files: TestFile[]; results: FileResult[] }> {
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
  return { files, results };
}

/** Every case of `f` failed: the policies they run against do not load. */
function failedToLoad(f: TestFile): FileResult {
  return {
    file: f.file,
    problem: null,
    cases: f.cases.map((c) => ({
      name: c.name,
      failure: 'the policies do not load',
      policies: [],
    })),
  };
}

function printResults(results: FileResult[]): void {
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
}

/** The summary line, the JUnit file and the coverage; the exit code. */
async function finishTest(
  results: FileResult[],
  junit: string | undefined,
  dir: string,
  coverage: { set: LoadedPolicySet; min: number | null; conditionsMin: number | null } | null,
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

function parseCoverageMin(raw: string | undefined, flag: string, fail: Fail): number | null {
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
  fail: Fail,
): Promise<{ dir: string; paths: string[]; caseName: string | null }> {
  const given = policyPathOf(positionals, usage.line);
  const spec = splitTestSpec(given);
  if (spec !== null) {
    if (!(await isA(spec.file, 'file'))) return fail(`${spec.file}: no such test file`);
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
  if (!(await isA(given, 'directory'))) return fail(`${given}: no such policy directory`);
  return { dir: given, paths: await listTestFiles(join(given, TESTS_DIR)), caseName: null };
}

async function isA(path: string, kind: 'file' | 'directory'): Promise<boolean> {
  return stat(path).then(
    (i) => (kind === 'file' ? i.isFile() : i.isDirectory()),
    () => false,
  );
}
