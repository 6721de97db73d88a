/**
 * Hand-written scanners over Cedar policy text, with no Cedar in them: where each policy of a
 * file starts and ends, and where its comments are. They rely on one property of Cedar's
 * syntax: outside string literals and `//` comments, a `;` only ends a policy. So a scan that
 * skips those two is exact for text that parsed (the adapter checks the count against Cedar's).
 */

/** One policy's stretch of a file, as {@link splitPolicies} finds it. */
export interface PolicyChunk {
  /** The policy's own text: from the end of the previous policy to its `;`, comments included. */
  text: string;
  /** Character index of `text` in the file. */
  start: number;
  /** Character index of the policy's first token (its first annotation or its effect). */
  firstToken: number;
}

/** The index of the `"` closing the string literal that opens at `open` (or the text's length). */
function endOfString(text: string, open: number): number {
  let i = open + 1;
  for (; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
  return i;
}

/** The index of the newline ending the line that `from` is on (or the text's length). */
function endOfLine(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end;
}

const isComment = (text: string, i: number): boolean => text[i] === '/' && text[i + 1] === '/';

/** Splits policy text at the `;` ending each policy; text after the last `;` is dropped. */
export function splitPolicies(text: string): PolicyChunk[] {
  const out: PolicyChunk[] = [];
  let start = 0;
  let firstToken = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (isComment(text, i)) {
      i = endOfLine(text, i);
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') continue;
    if (firstToken < 0) firstToken = i;
    if (ch === '"') {
      i = endOfString(text, i);
      continue;
    }
    if (ch === ';') {
      out.push({ text: text.slice(start, i + 1), start, firstToken });
      start = i + 1;
      firstToken = -1;
    }
  }
  return out;
}

/** The `//` comments of policy text, in order and trimmed (`//` inside strings is no comment). */
export function commentsOf(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') {
      i = endOfString(text, i);
    } else if (isComment(text, i)) {
      const end = endOfLine(text, i);
      out.push(text.slice(i, end).trim());
      i = end;
    }
  }
  return out;
}

const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * How many lines after the policy's first token each `when` and `unless` keyword of one policy's
 * text stands, in order: the conditions Cedar's JSON form lists, which carries no positions. A
 * condition keyword stands outside brackets; one inside a string, a comment or an annotation is
 * skipped.
 */
export function conditionLinesOf(text: string): number[] {
  const lines: number[] = [];
  let first = -1;
  let depth = 0;
  let line = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\n') line++;
    if (ch === '\n' || ch === ' ' || ch === '\t' || ch === '\r') continue;
    if (isComment(text, i)) {
      i = endOfLine(text, i) - 1;
      continue;
    }
    if (first < 0) first = line;
    if (ch === '"') {
      const end = endOfString(text, i);
      line += text.slice(i, end).split('\n').length - 1;
      i = end;
    } else if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if (ch === ')' || ch === '}' || ch === ']') depth--;
    else if (depth === 0 && /[A-Za-z_]/.test(ch) && !/[A-Za-z0-9_@:]/.test(text[i - 1] ?? ' ')) {
      WORD.lastIndex = i;
      const word = WORD.exec(text)?.[0] ?? ch;
      if (word === 'when' || word === 'unless') lines.push(line);
      i += word.length - 1;
    }
  }
  return lines.map((l) => l - first);
}
