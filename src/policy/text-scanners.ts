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
