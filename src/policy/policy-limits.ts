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

/** The brackets of each mode: in a schema `<` and `>` nest too (`Set<Set<...>>`). */
const BRACKETS = {
  policy: { openers: '([{', closers: ')]}' },
  schema: { openers: '([{<', closers: ')]}>' },
} as const;

/**
 * The first place where policy text nests deeper than `max`, or null. In `schema` mode `<`
 * and `>` are brackets too (`Set<Set<...>>`) and no operators count.
 */
export function findTooDeep(
  text: string,
  max: number = POLICY_LIMITS.maxNesting,
  mode: 'policy' | 'schema' = 'policy',
): LimitProblem | null {
  const { openers, closers } = BRACKETS[mode];
  const depth = new Depth();
  for (let i = 0; i < text.length; i++) {
    const inert = endOfInert(text, i);
    if (inert !== null) {
      i = inert;
      continue;
    }
    const ch = text[i] as string;
    if (openers.includes(ch)) depth.open();
    else if (closers.includes(ch)) depth.close();
    else if (mode === 'policy') i = policyToken(text, i, depth);
    if (depth.value > max) return tooDeep(i, max, mode);
  }
  return null;
}

function tooDeep(index: number, max: number, mode: 'policy' | 'schema'): LimitProblem {
  return {
    index,
    message:
      `${mode === 'schema' ? 'schema' : 'policy'} text nested more than ${max} deep ` +
      '(brackets, chains of operators, `if`s and attribute accesses count): ' +
      'split the condition or the policy (the limit keeps Cedar from overflowing its stack)',
  };
}

/** Where a comment or a string starting at `i` ends (its last character), or null if none does. */
function endOfInert(text: string, i: number): number | null {
  const ch = text[i];
  if (ch === '/' && text[i + 1] === '/') {
    const end = text.indexOf('\n', i);
    return end < 0 ? text.length : end;
  }
  if (ch !== '"') return null;
  let end = i + 1;
  for (; end < text.length && text[end] !== '"'; end++) if (text[end] === '\\') end++;
  return end;
}

/** Counts the token of policy text at `i` (not a bracket); returns the index of its last character. */
function policyToken(text: string, i: number, depth: Depth): number {
  const ch = text[i] as string;
  const next = text[i + 1];
  if (ch === ';') depth.reset();
  else if (ch === ',') depth.endElement();
  else if (ch === '.' && isWordStart(next)) depth.member();
  else if (isOperator(ch, next)) {
    depth.operator();
    if (ch === '&' || ch === '|') return i + 1;
  } else if (ch === '=' || ch === '<' || ch === '>' || ch === ':' || ch === '!') depth.endChain();
  else if (isWordStart(ch) && !isWordPart(text[i - 1])) return word(text, i, depth);
  return i;
}

/** `&&`, `||`, `+`, `-`, `*`, and `!` that is not `!=`. */
function isOperator(ch: string, next: string | undefined): boolean {
  return (
    (ch === '&' && next === '&') ||
    (ch === '|' && next === '|') ||
    ch === '+' ||
    ch === '-' ||
    ch === '*' ||
    (ch === '!' && next !== '=')
  );
}

/** Counts the word starting at `i` (`if` nests, a separator ends a chain); returns its last index. */
function word(text: string, i: number, depth: Depth): number {
  let end = i + 1;
  while (end < text.length && isWordPart(text[end])) end++;
  const w = text.slice(i, end);
  if (OPERATOR_WORDS.has(w)) depth.operator();
  else if (SEPARATOR_WORDS.has(w)) depth.endChain();
  return end - 1;
}

/** One bracket level: the operators chained in it, and the current run of member accesses. */
interface Level {
  ops: number;
  chain: number;
}

/** The depth so far, as a stack of bracket levels (the module comment says what counts). */
class Depth {
  value = 0;
  private readonly levels: Level[] = [{ ops: 0, chain: 0 }];

  private get top(): Level {
    return this.levels[this.levels.length - 1] as Level;
  }

  open(): void {
    this.levels.push({ ops: 0, chain: 0 });
    this.value++;
  }

  /** A closer without its opener is ignored (Cedar refuses the text anyway). */
  close(): void {
    if (this.levels.length === 1) return;
    const level = this.levels.pop() as Level;
    this.value -= 1 + level.ops + level.chain;
  }

  /** A `;` ends the policy. */
  reset(): void {
    this.levels.length = 1;
    this.levels[0] = { ops: 0, chain: 0 };
    this.value = 0;
  }

  endChain(): void {
    this.value -= this.top.chain;
    this.top.chain = 0;
  }

  /** A `,` ends a set's or a record's element: its operators and chain. */
  endElement(): void {
    this.endChain();
    this.value -= this.top.ops;
    this.top.ops = 0;
  }

  member(): void {
    this.top.chain++;
    this.value++;
  }

  operator(): void {
    this.endChain();
    this.top.ops++;
    this.value++;
  }
}

function isWordStart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z_]/.test(ch);
}

function isWordPart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z0-9_]/.test(ch);
}
