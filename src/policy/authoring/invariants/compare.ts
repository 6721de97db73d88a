/**
 * `policy diff --invariants`: the same invariants checked on the base and on the candidate, each
 * told as what the change does to it — kept, broken by the candidate, already broken on the base,
 * or mended — so that a change that breaks one is told apart from one that was already broken.
 */
import type { CheckReport, InvariantResult } from './check.js';
import type { Counterexample } from './counterexample.js';
import { renderCounterexample, renderExplored } from './render.js';

/**
 * What the change does to one invariant: `holds` on both sides, `breaks` (holds on the base,
 * fails on the candidate), `still-fails` (fails on both), `mended` (fails on the base only).
 */
export type InvariantVerdict = 'holds' | 'breaks' | 'still-fails' | 'mended';

/** One invariant on both sides. */
export interface InvariantComparison {
  id: string;
  line: number;
  verdict: InvariantVerdict;
  base: { holds: boolean; counterexample: Counterexample | null };
  candidate: { holds: boolean; counterexample: Counterexample | null };
}

/** How much one side's check explored, and how long it took. */
export interface ExploredSide {
  starts: number;
  states: number;
  requests: number;
  decided: number;
  ms: number;
}

/** The invariants section of a diff (`invariants` in `policy diff --json`). */
export interface InvariantsDiff {
  invariantsFile: string;
  users: number;
  /** The ids the candidate breaks and the base kept: a non-empty list is exit 3. */
  breaks: string[];
  invariants: InvariantComparison[];
  base: ExploredSide & { roles: string[] };
  candidate: ExploredSide & { roles: string[] };
}

/** One side's check and the time it took. */
export interface TimedCheck {
  report: CheckReport;
  ms: number;
}

/**
 * Both sides' checks of the same invariants file, paired by invariant id. Both were parsed from
 * one text, so they list the same ids in the same order.
 */
export function compareInvariants(base: TimedCheck, candidate: TimedCheck): InvariantsDiff {
  const before = new Map(base.report.invariants.map((i) => [i.id, i]));
  const invariants = candidate.report.invariants.map((after): InvariantComparison => {
    const was = before.get(after.id);
    if (was === undefined) throw new Error(`invariant ${after.id} was not checked on the base`);
    return {
      id: after.id,
      line: after.line,
      verdict: verdictOf(was, after),
      base: { holds: was.holds, counterexample: was.counterexample },
      candidate: { holds: after.holds, counterexample: after.counterexample },
    };
  });
  return {
    invariantsFile: candidate.report.invariantsFile,
    users: candidate.report.users,
    breaks: invariants.filter((i) => i.verdict === 'breaks').map((i) => i.id),
    invariants,
    base: exploredSide(base),
    candidate: exploredSide(candidate),
  };
}

function verdictOf(base: InvariantResult, candidate: InvariantResult): InvariantVerdict {
  if (base.holds) return candidate.holds ? 'holds' : 'breaks';
  return candidate.holds ? 'mended' : 'still-fails';
}

function exploredSide({ report, ms }: TimedCheck): ExploredSide & { roles: string[] } {
  const { starts, states, requests, decided, roles } = report;
  return { starts, states, requests, decided, ms: Math.round(ms), roles };
}

/** What each verdict adds to the invariant's `ok`/`FAIL` line. */
const VERDICT_NOTES: Record<InvariantVerdict, string> = {
  holds: '',
  breaks: '  (broken by the candidate: holds on the base)',
  'still-fails': '  (already fails on the base)',
  mended: '  (mended: fails on the base)',
};

/**
 * The section as text: a headline, then one line per invariant as `policy check` prints it
 * (`ok`/`FAIL`, the candidate's counterexample under each that fails) with what the change did
 * to it, then what each side explored.
 */
export function renderInvariantsDiff(d: InvariantsDiff): string {
  const failing = d.invariants.filter((i) => !i.candidate.holds).length;
  const stillFails = d.invariants.filter((i) => i.verdict === 'still-fails').length;
  const mended = d.invariants.filter((i) => i.verdict === 'mended').length;
  const told = [
    d.breaks.length === 0
      ? 'the candidate breaks none the base kept'
      : `the candidate breaks ${d.breaks.length} the base kept`,
    ...(stillFails > 0 ? [`${stillFails} already failed on the base`] : []),
    ...(mended > 0 ? [`it mends ${mended}`] : []),
  ];
  const lines = [
    `invariants of ${d.invariantsFile} (${d.users} users): ` +
      `${d.invariants.length - failing} of ${d.invariants.length} hold on the candidate; ${told.join('; ')}`,
  ];
  for (const inv of d.invariants) {
    lines.push(
      `  ${inv.candidate.holds ? 'ok  ' : 'FAIL'}  ${inv.id}${VERDICT_NOTES[inv.verdict]}`,
    );
    if (inv.candidate.counterexample !== null) {
      lines.push(...renderCounterexample(inv.candidate.counterexample));
    }
  }
  lines.push(`base:      ${renderExplored(d.base, d.base.ms)}`);
  lines.push(`candidate: ${renderExplored(d.candidate, d.candidate.ms)}`);
  return `${lines.join('\n')}\n`;
}
