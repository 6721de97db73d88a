/**
 * `policy fmt`: Cedar's formatter, trusted only as far as it is proven right for each file: the
 * formatted text must keep every comment and mean exactly the same policies (annotations
 * included), or the file is left alone and the reason reported.
 */
import { formatPolicyText, policyMeaningOf } from '../cedar-adapter.js';
import { commentsOf } from '../text-scanners.js';
import type { CedarProblem } from '../cedar-adapter.js';

/** What formatting one file's text gives. */
export type FormatOutcome =
  | { kind: 'formatted'; text: string }
  | { kind: 'unchanged' }
  | { kind: 'refused'; reason: string }
  | { kind: 'invalid'; problems: CedarProblem[] };

/**
 * Formats policy text, refusing output that loses a comment or changes a policy. `format` is
 * Cedar's formatter; tests pass a faulty one to prove the guards hold.
 */
export function formatPolicies(text: string, format = formatPolicyText): FormatOutcome {
  const answer = format(text);
  if (!answer.ok) return { kind: 'invalid', problems: answer.problems };
  const formatted = answer.formatted;
  // The formatter turns a file with no policies into a lone newline; keep an empty file empty.
  if (formatted.trim() === '' && text.trim() === '') return { kind: 'unchanged' };
  const before = commentsOf(text);
  const after = commentsOf(formatted);
  const lost = missingFrom(before, after);
  if (lost.length > 0) {
    return {
      kind: 'refused',
      reason: `the formatter would drop comment(s): ${lost.map((c) => JSON.stringify(c)).join(', ')}`,
    };
  }
  if (policyMeaningOf(text) !== policyMeaningOf(formatted)) {
    return { kind: 'refused', reason: 'the formatted text would not mean the same policies' };
  }
  return formatted === text ? { kind: 'unchanged' } : { kind: 'formatted', text: formatted };
}

function missingFrom(before: string[], after: string[]): string[] {
  const left = [...after];
  const lost: string[] = [];
  for (const c of before) {
    const i = left.indexOf(c);
    if (i < 0) lost.push(c);
    else left.splice(i, 1);
  }
  return lost;
}
