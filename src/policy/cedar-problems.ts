/**
 * Cedar's errors in the project's terms: a problem with a character index into the text that
 * was checked (Cedar reports UTF-8 byte offsets), and the one-line form of an error for logs.
 */
import { charIndexOfByte } from './source-position.js';

/** A problem Cedar found, with the character index it points at in the text it was given. */
export interface CedarProblem {
  message: string;
  help?: string;
  /** Character index into the text that was checked; absent when Cedar gave no location. */
  index?: number;
}

/** The fields of Cedar's `DetailedError` this project reads. */
export interface CedarError {
  message: string;
  help: string | null;
  sourceLocations?: { start: number; label: string | null }[];
}

export function toProblems(errors: readonly CedarError[], text: string): CedarProblem[] {
  return errors.map((e) => toProblem(e, text));
}

export function toProblem(e: CedarError, text: string): CedarProblem {
  const location = e.sourceLocations?.[0];
  const label = location?.label;
  const message =
    label !== null && label !== undefined && label !== '' ? `${e.message}: ${label}` : e.message;
  const problem: CedarProblem = { message };
  if (e.help !== null && e.help !== '') problem.help = e.help;
  if (location !== undefined) problem.index = charIndexOfByte(text, location.start);
  return problem;
}

export function shiftProblem(p: CedarProblem, by: number): CedarProblem {
  return p.index === undefined ? p : { ...p, index: p.index + by };
}

/** `message (help)`, or the message alone: how an error reads in a decision's `errors`. */
export function formatError(e: Pick<CedarError, 'message' | 'help'>): string {
  return e.help !== null && e.help !== '' ? `${e.message} (${e.help})` : e.message;
}

export function joinMessages(errors: readonly CedarError[]): string {
  return errors.map(formatError).join('; ');
}
