/** How the policy commands print: whole lines on stdout, a problem with its help under it. */
import { formatProblem } from '../../policy/policy-set.js';
import type { PolicyProblem } from '../../policy/policy-set.js';

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
