/**
 * How big the files and functions of `src/` are (issue 24: no file over 450 lines, no function
 * over 60), measured by the TypeScript compiler's own parse: function declarations and
 * expressions, arrow functions, methods, constructors and accessors, each from its first line to
 * its last, comments inside included.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 450;
export const MAX_FUNCTION_LINES = 60;

/** One function: `file#name` names it (`name` as the reader sees it, see {@link functionName}). */
export interface FunctionSize {
  file: string;
  name: string;
  /** 1-based line it starts on. */
  line: number;
  lines: number;
}

/** A source text's lines (a final newline ends the last line, it does not start another). */
export function lineCount(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** Every function of one source text, nested ones included (each counted on its own). */
export function functionSizes(file: string, text: string): FunctionSize[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node)) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, name: functionName(node), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/**
 * A function's name: its own, else the variable or property it is assigned to (`const run = () =>`,
 * `{ ping: async () => … }`), else `<anonymous>`; a method or a constructor is `Class.name`.
 */
export function functionName(node: ts.FunctionLikeDeclaration): string {
  const own = node.name !== undefined ? node.name.getText() : undefined;
  if (ts.isConstructorDeclaration(node)) return `${className(node.parent)}.constructor`;
  if (own !== undefined) {
    return ts.isClassLike(node.parent) ? `${className(node.parent)}.${own}` : own;
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText();
  }
  return '<anonymous>';
}

function className(node: ts.Node): string {
  return ts.isClassLike(node) && node.name !== undefined ? node.name.text : '<class>';
}

/** Every `.ts` file under `dir` (not `.d.ts`), as repo-relative paths with `/`. */
export function sourceFiles(repoRoot: string, dir = 'src'): string[] {
  const walk = (abs: string): string[] =>
    readdirSync(abs)
      .sort()
      .flatMap((name) => {
        const p = join(abs, name);
        if (statSync(p).isDirectory()) return walk(p);
        return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
      });
  return walk(join(repoRoot, dir)).map((p) => relative(repoRoot, p).split(sep).join('/'));
}

/** The files over `maxLines` and the functions over `maxFunctionLines` of `files`. */
export function oversized(
  repoRoot: string,
  files: string[],
  limits = { maxLines: MAX_FILE_LINES, maxFunctionLines: MAX_FUNCTION_LINES },
): { files: { file: string; lines: number }[]; functions: FunctionSize[] } {
  const bigFiles: { file: string; lines: number }[] = [];
  const longFunctions: FunctionSize[] = [];
  for (const file of files) {
    const text = readFileSync(join(repoRoot, file), 'utf8');
    const lines = lineCount(text);
    if (lines > limits.maxLines) bigFiles.push({ file, lines });
    for (const f of functionSizes(file, text)) {
      if (f.lines > limits.maxFunctionLines) longFunctions.push(f);
    }
  }
  return { files: bigFiles, functions: longFunctions };
}

/** `file#name`: how an exception names a function. */
export function functionKey(f: Pick<FunctionSize, 'file' | 'name'>): string {
  return `${f.file}#${f.name}`;
}
