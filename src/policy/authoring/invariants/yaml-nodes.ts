/**
 * A YAML document as plain values that remember their line, so that every complaint about an
 * invariants file can say `file:line` (the `yaml` package keeps ranges; plain `parse` drops them).
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';

/** One value of the document, with the line it starts on (1-based). */
export type Located =
  | { kind: 'map'; line: number; entries: Map<string, Located> }
  | { kind: 'seq'; line: number; items: Located[] }
  | { kind: 'scalar'; line: number; value: unknown };

/** A problem in an invariants file, at a line. */
export class InvariantFileError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'InvariantFileError';
    this.file = file;
    this.line = line;
  }
}

/** Parses `text`; throws {@link InvariantFileError} at the first syntax error or duplicate key. */
export function parseLocated(file: string, text: string): Located {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = lines.linePos(first.pos[0]).line;
    throw new InvariantFileError(file, line, first.message.split('\n')[0] ?? 'bad YAML');
  }
  const lineOf = (node: YamlNode | null | undefined): number =>
    node?.range ? lines.linePos(node.range[0]).line : 1;
  const walk = (node: unknown): Located => {
    if (isMap(node)) {
      const entries = new Map<string, Located>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        entries.set(
          key,
          pair.value === null ? scalarAt(lineOf(pair.key as YamlNode)) : walk(pair.value),
        );
      }
      return { kind: 'map', line: lineOf(node), entries };
    }
    if (isSeq(node)) return { kind: 'seq', line: lineOf(node), items: node.items.map(walk) };
    if (isScalar(node)) return { kind: 'scalar', line: lineOf(node), value: node.value };
    return scalarAt(1);
  };
  return walk(doc.contents);
}

function scalarAt(line: number): Located {
  return { kind: 'scalar', line, value: null };
}

/** Reading helpers that throw {@link InvariantFileError} naming what was expected. */
export function readersFor(file: string) {
  const fail = (at: Located | number, message: string): never => {
    throw new InvariantFileError(file, typeof at === 'number' ? at : at.line, message);
  };
  const map = (v: Located, what: string, allowed: readonly string[]): Map<string, Located> => {
    if (v.kind !== 'map') return fail(v, `${what} must be a mapping`);
    for (const [k, child] of v.entries) {
      if (!allowed.includes(k)) {
        fail(child, `${what} has no key "${k}" (keys: ${allowed.join(', ')})`);
      }
    }
    return v.entries;
  };
  const seq = (v: Located, what: string): Located[] =>
    v.kind === 'seq' ? v.items : fail(v, `${what} must be a list`);
  const str = (v: Located, what: string): string =>
    v.kind === 'scalar' && typeof v.value === 'string' && v.value !== ''
      ? v.value
      : fail(v, `${what} must be a non-empty string`);
  const int = (v: Located, what: string): number =>
    v.kind === 'scalar' && Number.isInteger(v.value) && (v.value as number) >= 0
      ? (v.value as number)
      : fail(v, `${what} must be a whole number`);
  return { fail, map, seq, str, int };
}
