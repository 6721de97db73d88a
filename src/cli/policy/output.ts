/** How the policy commands print: whole lines on stdout, a problem with its help under it. */
import { formatProblem } from '../../policy/policy-set.js';
import type { LoadedSetDecider, PolicyProblem } from '../../policy/policy-set.js';

/** `text` on stdout as one or more whole lines. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Each problem as `file:line:column: message`, its help on the next line. */
export function printProblems(problems: PolicyProblem[]): void {
  for (const p of problems) {
    out(formatProblem(p));
    if (p.help !== undefined) out(`  help: ${p.help}`);
  }
}

/** `n thing` or `n things`. */
export function plural(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}

/** What a deciding command's `--help` says of its engine (docs/contract.md §1). */
export const DECIDER_HELP =
  'Decides as the sidecar does: by the compiled decider when the set compiles, by cedar-wasm ' +
  'otherwise; the last line ("decider: ...") and --json\'s "decider" say which, and why.';

/** Which engine decided a command's requests (`--json`'s `decider`, as `/status` shows the live set's). */
export interface DeciderReport {
  engine: 'compiled' | 'wasm';
  /** Why cedar-wasm decides (the construct the compiler refused); null when compiled. */
  reason: string | null;
}

/** The `decider` of a compiled set's answers (policy-set.ts `compileLoadedSet`). */
export function deciderReportOf(set: Pick<LoadedSetDecider, 'decider' | 'reason'>): DeciderReport {
  return { engine: set.decider, reason: set.reason };
}

/**
 * `decider: compiled (N decisions, M handed to cedar-wasm)`, or `decider: cedar-wasm (why)`: the
 * line a command prints after its results.
 */
export function deciderLine(report: DeciderReport, stats?: LoadedSetDecider['stats']): string {
  if (report.engine === 'wasm')
    return `decider: cedar-wasm (${report.reason ?? 'no reason given'})`;
  if (stats === undefined) return 'decider: compiled';
  const { compiled, fallbacks } = stats();
  const handed = Object.values(fallbacks).reduce((a, b) => a + b, 0);
  return `decider: compiled (${plural(compiled, 'decision')}, ${handed} handed to cedar-wasm)`;
}
