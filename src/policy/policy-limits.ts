/**
 * The limits on policy text, checked by a scan of our own BEFORE Cedar sees the text (issue 22
 * item 1): Cedar's wasm module recurses once per level of an expression and, nested ~75 to 200
 * levels deep (fewer for `[`/`{`, more for `(`), overflows its stack — `memory access out of
 * bounds` or `Maximum call stack size exceeded` — after which that wasm instance is dead. So
 * text nested deeper than {@link POLICY_LIMITS}.maxNesting, or a set larger than the limits, is
 * refused here with the place it goes too far, whatever the text's origin (POLICY_DIR, the
 * candidate set, the playground). docs/contract.md ("Policy limits") states them.
 *
 * The depth counted is an upper bound of the depth of Cedar's expression tree: each open
 * bracket (`(`, `[`, `{`) is a level; within a level every `&&`, `||`, `+`, `-`, `*`, `!` and
 * `if` adds one (a chain of them nests: `a && b && c` is two deep), and a run of member accesses
 * (`.name`) adds its length until the next operator. A `,` ends a set's or a record's element.
 */

/** The limits, as documented. Not configurable: past them Cedar itself is unsafe or too slow. */
export const POLICY_LIMITS = Object.freeze({
  /** How deep one policy's expression may nest (see the module comment for what counts). */
  maxNesting: 50,
  /** Policies in one set (all files together). */
  maxPolicies: 10_000,
  /** UTF-8 bytes of the schema and every policy file together. */
  maxSetBytes: 4 * 1024 * 1024,
});

/** What went over a limit, and where (a character index into the text scanned). */
export interface LimitProblem {
  index: number;
  message: string;
}

const OPERATOR_WORDS = new Set(['if']);
const SEPARATOR_WORDS = new Set(['then', 'else', 'in', 'has', 'like', 'is', 'when', 'unless']);
const OPENERS = '([{';
const CLOSERS = ')]}';

interface Level {
  ops: number;
  chain: number;
}

/**
 * The first place where policy text nests deeper than `max`, or null. In `schema` mode `<`
 * and `>` are brackets too (`Set<Set<...>>`) and no operators count.
 */
export function findTooDeep(
  text: string,
  max: number = POLICY_LIMITS.maxNesting,
  mode: 'policy' | 'schema' = 'policy',
): LimitProblem | null {
  const openers = mode === 'schema' ? `${OPENERS}<` : OPENERS;
  const closers = mode === 'schema' ? `${CLOSERS}>` : CLOSERS;
  const levels: Level[] = [{ ops: 0, chain: 0 }];
  let depth = 0;
  const tooDeep = (index: number): LimitProblem => ({
    index,
    message:
      `${mode === 'schema' ? 'schema' : 'policy'} text nested more than ${max} deep ` +
      '(brackets, chains of operators, `if`s and attribute accesses count): ' +
      'split the condition or the policy (the limit keeps Cedar from overflowing its stack)',
  });
  const top = (): Level => levels[levels.length - 1] as Level;
  const endChain = (): void => {
    depth -= top().chain;
    top().chain = 0;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      continue;
    }
    if (ch === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (openers.includes(ch)) {
      levels.push({ ops: 0, chain: 0 });
      depth++;
    } else if (closers.includes(ch)) {
      if (levels.length > 1) {
        const level = levels.pop() as Level;
        depth -= 1 + level.ops + level.chain;
      }
    } else if (ch === ';' && mode === 'policy') {
      levels.length = 1;
      levels[0] = { ops: 0, chain: 0 };
      depth = 0;
    } else if (mode === 'schema') {
      continue;
    } else if (ch === ',') {
      endChain();
      depth -= top().ops;
      top().ops = 0;
    } else if (ch === '.' && isWordStart(text[i + 1])) {
      top().chain++;
      depth++;
    } else if (
      (ch === '&' && text[i + 1] === '&') ||
      (ch === '|' && text[i + 1] === '|') ||
      ch === '+' ||
      ch === '-' ||
      ch === '*' ||
      (ch === '!' && text[i + 1] !== '=')
    ) {
      endChain();
      top().ops++;
      depth++;
      if (ch === '&' || ch === '|') i++;
    } else if (ch === '=' || ch === '<' || ch === '>' || ch === ':' || ch === '!') {
      endChain();
    } else if (isWordStart(ch) && !isWordPart(text[i - 1])) {
      let end = i + 1;
      while (end < text.length && isWordPart(text[end])) end++;
      const word = text.slice(i, end);
      if (OPERATOR_WORDS.has(word)) {
        endChain();
        top().ops++;
        depth++;
      } else if (SEPARATOR_WORDS.has(word)) endChain();
      i = end - 1;
    }
    if (depth > max) return tooDeep(i);
  }
  return null;
}

function isWordStart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z_]/.test(ch);
}

function isWordPart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z0-9_]/.test(ch);
}
