/**
 * Cedar's values as the compiled decider holds them: booleans, Longs (as `bigint`, i64 exactly),
 * strings, entities, sets, and the context record; with Cedar's equality and its two ways of
 * failing: an evaluation error Cedar reports for the policy ({@link EvalError}), and a case the
 * decider does not model, which hands the whole request to Cedar ({@link AskCedar}).
 */

/** An entity reference `type::"id"`. */
export class Entity {
  constructor(
    readonly type: string,
    readonly id: string,
  ) {}
}

/** A Cedar set: its elements, duplicates allowed (equality and membership ignore them). */
export class CedarSet {
  constructor(readonly items: readonly Value[]) {}
}

/** A record (the context). */
export class CedarRecord {
  constructor(readonly attrs: ReadonlyMap<string, Value>) {}
}

export type Value = boolean | bigint | string | Entity | CedarSet | CedarRecord;

/** An evaluation error: Cedar skips the policy and reports this message for it. */
export class EvalError extends Error {}

/**
 * Thrown where the decider does not model what Cedar would do (a type Cedar's validator
 * should have refused, an id Cedar would print in a way not reproduced here): the request is
 * decided by Cedar instead.
 */
export class AskCedar extends Error {}

/** Cedar's `==`: values of different types are unequal, sets compare as sets. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (a instanceof Entity) return b instanceof Entity && a.id === b.id && a.type === b.type;
  if (a instanceof CedarSet) {
    return (
      b instanceof CedarSet &&
      a.items.every((x) => setHas(b, x)) &&
      b.items.every((x) => setHas(a, x))
    );
  }
  if (a instanceof CedarRecord) {
    if (!(b instanceof CedarRecord) || a.attrs.size !== b.attrs.size) return false;
    for (const [k, v] of a.attrs) {
      const w = b.attrs.get(k);
      if (w === undefined || !valueEquals(v, w)) return false;
    }
    return true;
  }
  return false;
}

/** Whether `set` holds a value equal to `x`. */
export function setHas(set: CedarSet, x: Value): boolean {
  for (const item of set.items) if (valueEquals(item, x)) return true;
  return false;
}

export function asBool(v: Value): boolean {
  if (typeof v !== 'boolean') throw new AskCedar('a Boolean was expected');
  return v;
}

export function asLong(v: Value): bigint {
  if (typeof v !== 'bigint') throw new AskCedar('a Long was expected');
  return v;
}

export function asSet(v: Value): CedarSet {
  if (!(v instanceof CedarSet)) throw new AskCedar('a set was expected');
  return v;
}

export function asEntity(v: Value): Entity {
  if (!(v instanceof Entity)) throw new AskCedar('an entity was expected');
  return v;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** `a op b` on i64, with Cedar's overflow error. */
export function checkedArith(op: '+' | '-' | '*', a: bigint, b: bigint): bigint {
  const r = op === '+' ? a + b : op === '-' ? a - b : a * b;
  if (r < I64_MIN || r > I64_MAX) {
    const verb = op === '+' ? 'add' : op === '-' ? 'subtract' : 'multiply';
    throw new EvalError(
      `integer overflow while attempting to ${verb} the values \`${a}\` and \`${b}\``,
    );
  }
  return r;
}

/** `-a` on i64, with Cedar's overflow error. */
export function checkedNeg(a: bigint): bigint {
  if (a === I64_MIN) {
    throw new EvalError(`integer overflow while attempting to negate the value \`${a}\``);
  }
  return -a;
}

const ESCAPES: Record<string, string> = {
  '\t': '\\t',
  '\r': '\\r',
  '\n': '\\n',
  '\\': '\\\\',
  '"': '\\"',
  "'": "\\'",
  '\0': '\\0',
};

/**
 * An entity as Cedar's messages print it: `Type::"id"`, the id escaped as Rust's
 * `escape_debug` does. Only ASCII is reproduced: any other character asks Cedar.
 */
export function displayEntity(e: Entity): string {
  let out = '';
  for (const ch of e.id) {
    const code = ch.charCodeAt(0);
    const escaped = ESCAPES[ch];
    if (escaped !== undefined) out += escaped;
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`;
    else if (code > 0x7e) throw new AskCedar('an entity id Cedar prints in its own way');
    else out += ch;
  }
  return `${e.type}::"${out}"`;
}
