/**
 * `policy diff` timings for two sets with 8, 10 and 12 named roles (issue 25 item 4; target:
 * 12 within 60 s). Each pair is written by diff-sets.ts and compared by the real CLI, one run
 * at a time, stopped at `timeoutSeconds` (a diff past it is reported as such, not waited for):
 *
 *   npm run build && node dist/bench/diff-timings.js [--timeout S] [--roles 8,10,12]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeDiffSets } from './diff-sets.js';
import { repoRoot } from './processes.js';
import { round } from './stats.js';

/** One timed `policy diff`. */
export interface DiffTiming {
  namedRoles: number;
  /** Wall-clock seconds, or the timeout when it did not finish. */
  seconds: number;
  finished: boolean;
  /** The CLI's exit code (1: the sets differ, as they do here; 0: they do not). */
  exitCode: number | null;
}

/** Times `policy diff namedN namedN-mut` for each N, one after the other. */
export async function measureDiffTimings(options: {
  roles: readonly number[];
  timeoutSeconds: number;
  log: (line: string) => void;
}): Promise<DiffTiming[]> {
  const out = mkdtempSync(join(tmpdir(), 'cedargate-diff-sets-'));
  try {
    writeDiffSets(out);
    const timings: DiffTiming[] = [];
    for (const n of options.roles) {
      options.log(`policy diff: ${n} named roles (stopped at ${options.timeoutSeconds} s)`);
      const t = await timeDiff(
        join(out, `named${n}`),
        join(out, `named${n}-mut`),
        options.timeoutSeconds,
      );
      timings.push({ namedRoles: n, ...t });
      options.log(
        `policy diff: ${n} named roles: ${t.finished ? `${t.seconds} s` : `over ${t.seconds} s`}`,
      );
    }
    return timings;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function timeDiff(
  before: string,
  after: string,
  timeoutSeconds: number,
): Promise<Omit<DiffTiming, 'namedRoles'>> {
  const started = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'cedargate'), 'policy', 'diff', before, after],
    { stdio: 'ignore' },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = round(Number(process.hrtime.bigint() - started) / 1e9, 1);
      const finished = signal === null;
      resolve({ seconds: finished ? seconds : timeoutSeconds, finished, exitCode: code });
    });
  });
}

/** The timings as a markdown table. */
export function renderDiffTimings(timings: readonly DiffTiming[]): string {
  const rows = timings.map(
    (t) =>
      `| ${t.namedRoles} | ${t.finished ? `${t.seconds} s` : `over ${t.seconds} s (stopped)`} | ${t.exitCode ?? '-'} |`,
  );
  return ['| named roles | `policy diff` | exit |', '|---|---|---|', ...rows].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { timeout: { type: 'string' }, roles: { type: 'string' } },
  });
  const timeoutSeconds = Number(values.timeout ?? '180');
  const roles = (values.roles ?? '8,10,12').split(',').map(Number);
  if (!(timeoutSeconds > 0) || roles.some((n) => ![4, 8, 9, 10, 12].includes(n))) {
    process.stderr.write(
      'usage: node dist/bench/diff-timings.js [--timeout S] [--roles 8,10,12] (roles among 4,8,9,10,12)\n',
    );
    process.exit(2);
  }
  const timings = await measureDiffTimings({
    roles,
    timeoutSeconds,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${renderDiffTimings(timings)}\n`);
}
