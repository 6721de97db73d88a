/**
 * `cedargate policy diff`: every request whose decision differs between two sets, in classes;
 * with `--invariants FILE`, also the invariants each side keeps (`policy check` on both). Exit 0
 * no decision changes, 1 some do, 3 the candidate breaks an invariant the base kept, 2 bad input
 * (a wrong command line, a side that does not load, a comparison too large to decide, an
 * invariants file that does not read).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { loadPolicyCliConfig } from '../../config.js';
import {
  DiffTooLargeError,
  diffPolicySets,
  renderDiff,
  type DiffReport,
} from '../../policy/authoring/diff.js';
import { renderInvariantsDiff } from '../../policy/authoring/invariants/compare.js';
import type { InvariantsDiff } from '../../policy/authoring/invariants/compare.js';
import { loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { LoadedPolicySet } from '../../policy/policy-set.js';
import { resolvePolicyTarget, PolicyTargetError } from '../../policy/policy-target.js';
import type { PolicyTarget } from '../../policy/policy-target.js';
import { assertDirectory, parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { diffInvariants, usersFlag, usersOf } from './invariants.js';
import type { DiffInvariantsRequest } from './invariants.js';
import { DECIDER_HELP, deciderLine, out, printProblems } from './output.js';
import { isCedarFile } from './target.js';

export const usage = {
  line:
    'cedargate policy diff BASE CANDIDATE [--json] [--invariants FILE.yaml [--users N]]' +
    ' | policy diff --git REV [CANDIDATE] [--json] [--invariants FILE.yaml [--users N]]',
  flags: {
    json: { type: 'boolean', help: 'print the differences as JSON' },
    git: { type: 'string', value: 'REV', help: 'compare against the policies committed at REV' },
    invariants: {
      type: 'string',
      value: 'FILE.yaml',
      help: 'also check these invariants on both sides (as policy check does): those the candidate breaks and the base kept, with counterexamples, exit 3',
    },
    users: { ...usersFlag, help: `with --invariants: ${usersFlag.help}` },
  },
  description: DECIDER_HELP,
} satisfies CommandUsage;

/** Exit code of a candidate that breaks an invariant the base kept (docs/contract.md). */
export const EXIT_BREAKS_INVARIANT = 3;

type Fail = (message: string) => never;

/** The two sides of a diff: where each is read, how the base is named, what to clean up. */
interface Sides {
  baseDir: string;
  baseName: string;
  candidateDir: string;
  cleanup: () => Promise<void>;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const fail: Fail = (message) => {
    throw new UsageError(`${message}\nusage: ${usage.line}`);
  };
  const wanted = invariantsWanted(values, fail);
  const sides = await sidesOf(positionals, values.git, fail);
  try {
    const base = await loadForDiff(sides.baseDir, sides.baseName);
    const candidate = await loadForDiff(sides.candidateDir, sides.candidateDir);
    if (base === null || candidate === null) return 2;
    // The file is read against both schemas before the long work: bad input fails first.
    const checkBoth =
      wanted === null
        ? null
        : await diffInvariants(
            wanted,
            { set: base, name: sides.baseName },
            { set: candidate, name: sides.candidateDir },
          );
    const report = diffOrNull(base, candidate);
    if (report === null) return 2;
    // The paths as given: a .cedar file side would otherwise be named by its directory.
    report.base = sides.baseName;
    report.candidate = sides.candidateDir;
    const invariants = checkBoth === null ? null : checkBoth();
    out(values.json === true ? jsonOf(report, invariants) : textOf(report, invariants));
    if (invariants !== null && invariants.breaks.length > 0) return EXIT_BREAKS_INVARIANT;
    return report.classes.length > 0 || report.oneSided > 0 ? 1 : 0;
  } finally {
    await sides.cleanup();
  }
}

/** The text report, then which engine decided each side (`decider: base …, candidate …`). */
function renderWithDeciders(report: DiffReport): string {
  const side = (name: string, d: DiffReport['deciders']['base']) =>
    `${name} ${deciderLine(d).slice('decider: '.length)}`;
  const { base, candidate } = report.deciders;
  return `${renderDiff(report)}decider: ${side('base', base)}, ${side('candidate', candidate)}\n`;
}

/** `--invariants FILE [--users N]`, or null; `--users` alone is a wrong command line. */
function invariantsWanted(
  values: { invariants?: string | undefined; users?: string | undefined },
  fail: Fail,
): DiffInvariantsRequest | null {
  if (values.invariants === undefined) {
    if (values.users !== undefined) fail('--users applies to --invariants: give both');
    return null;
  }
  return { file: values.invariants, users: usersOf(values.users, fail) };
}

function jsonOf(report: DiffReport, invariants: InvariantsDiff | null): string {
  return JSON.stringify(invariants === null ? report : { ...report, invariants }, null, 2);
}

function textOf(report: DiffReport, invariants: InvariantsDiff | null): string {
  // renderDiff ends with a newline: a blank line sets the invariants apart.
  const text = renderWithDeciders(report);
  return invariants === null ? text : `${text}\n${renderInvariantsDiff(invariants)}`;
}

/** The two sides: BASE and CANDIDATE as given, or POLICY_DIR as committed at `--git REV`. */
async function sidesOf(positionals: string[], rev: string | undefined, fail: Fail): Promise<Sides> {
  if (rev === undefined) {
    if (positionals.length !== 2) fail('expected BASE and CANDIDATE policy directories');
    const [baseDir, candidateDir] = positionals as [string, string];
    // A .cedar file is read with the schema next to it (loadForDiff); anything else must be a
    // directory, said in one line.
    if (!isCedarFile(baseDir)) assertDirectory(baseDir, 'BASE policy directory');
    if (!isCedarFile(candidateDir)) assertDirectory(candidateDir, 'CANDIDATE policy directory');
    return { baseDir, baseName: baseDir, candidateDir, cleanup: () => Promise.resolve() };
  }
  if (positionals.length > 1) fail('with --git, expected at most one CANDIDATE');
  // The base is POLICY_DIR as committed at REV: REV is resolved in its repository, whatever
  // directory (a copy outside any repository, say) the candidate is.
  const policyDir = loadPolicyCliConfig().policyDir;
  const candidateDir = positionals[0] ?? policyDir;
  if (candidateDir.endsWith('.cedar')) fail('--git compares whole policy directories: give one');
  const committed = await committedPolicyDir(rev, policyDir, fail);
  return {
    baseDir: committed.dir,
    baseName: `${rev}:${policyDir}`,
    candidateDir,
    cleanup: committed.remove,
  };
}

/** The diff, or null (exit 2) when it would decide more requests than a diff may. */
function diffOrNull(base: LoadedPolicySet, candidate: LoadedPolicySet): DiffReport | null {
  try {
    return diffPolicySets(base, candidate, {
      onProgress: (done, planned) =>
        process.stderr.write(`policy diff: ${done} of at most ${planned} requests decided\n`),
    });
  } catch (err) {
    if (!(err instanceof DiffTooLargeError)) throw err;
    process.stderr.write(`policy diff: ${err.message}\n`);
    return null;
  }
}

/** Loads one side of a diff, a directory or one `.cedar` file; bad input is null (exit 2). */
async function loadForDiff(path: string, name: string): Promise<LoadedPolicySet | null> {
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

const execFileAsync = promisify(execFile);

/**
 * The committed version of policy directory `dir` at `rev`, written into a temp dir through
 * `git ls-tree` and `git show` (the working tree is not touched).
 */
async function committedPolicyDir(
  rev: string,
  dir: string,
  fail: Fail,
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
  const remove = () => rm(tmp, { recursive: true, force: true });
  try {
    for (const file of files) {
      // ls-tree names files from the repository root, `prefix` (the dir) included.
      const rel = file.startsWith(prefix) ? file.slice(prefix.length) : file;
      const text = await git('show', `${rev}:${file}`);
      await mkdir(dirname(join(tmp, rel)), { recursive: true });
      await writeFile(join(tmp, rel), text);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { dir: tmp, remove };
}
