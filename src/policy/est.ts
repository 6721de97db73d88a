/**
 * Cedar's JSON form of a policy (the EST), as the project's own typed tree: read once, at the
 * Cedar adapter's edge ({@link toPolicyEst}), so that nothing downstream casts `unknown`. The
 * converter follows Cedar's JSON policy format (cedar-wasm 4.x, `policyToJson`) and refuses
 * anything else with an {@link EstError} naming the construct and where it stands.
 *
 * The tree keeps Cedar's operator names: an expression is `{ op: '&&', left, right }`,
 * `{ op: '.', left, attr }`, `{ op: 'call', fn, args }` (an extension function), and so on.
 */

/** An entity reference, `Type::"id"` (type fully qualified as written). */
export interface EntityRef {
  type: string;
  id: string;
}

/** A principal or resource scope. `is` may carry an `in` (`resource is T in E`). */
export type PrincipalOrResourceScope =
  | { op: 'All' }
  | { op: '=='; entity: EntityRef }
  | { op: 'in'; entity: EntityRef }
  | { op: 'is'; entityType: string; in?: EntityRef }
  | { op: 'slot'; slot: string };

/** An action scope: `action`, `action == A`, `action in A` or `action in [A, B]`. */
export type ActionScope =
  { op: 'All' } | { op: '=='; entity: EntityRef } | { op: 'in'; entities: EntityRef[] };

/** A literal value (the EST's `Value`). Numbers are as JSON gives them (see {@link EstLong}). */
export type EstValue =
  | { kind: 'bool'; value: boolean }
  | EstLong
  | { kind: 'string'; value: string }
  | { kind: 'entity'; entity: EntityRef }
  | { kind: 'set'; elements: EstValue[] }
  | { kind: 'record'; attributes: Record<string, EstValue> }
  | { kind: 'extension'; fn: string; args: EstValue[] };

/**
 * A Long literal. cedar-wasm hands the EST over as JS values, so a literal beyond 2^53 has
 * already lost precision: `exact` says whether `value` is the literal as written.
 */
export interface EstLong {
  kind: 'long';
  value: number;
  exact: boolean;
}

/** Operators with a left and a right operand. */
export const BINARY_OPS = [
  '==',
  '!=',
  'in',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  '+',
  '-',
  '*',
  'contains',
  'containsAll',
  'containsAny',
  'getTag',
  'hasTag',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** One pattern element of `like`. */
export type PatternElem = { kind: 'wildcard' } | { kind: 'literal'; text: string };

/** An expression of a condition. */
export type Expr =
  | { op: 'value'; value: EstValue }
  | { op: 'var'; name: 'principal' | 'action' | 'resource' | 'context' }
  | { op: 'slot'; slot: string }
  | { op: '!' | 'neg' | 'isEmpty'; arg: Expr }
  | { op: BinaryOp; left: Expr; right: Expr }
  | { op: '.'; left: Expr; attr: string }
  /** `e has a.b.c`: `path` holds at least one attribute. */
  | { op: 'has'; left: Expr; path: string[] }
  | { op: 'like'; left: Expr; pattern: PatternElem[] }
  | { op: 'is'; left: Expr; entityType: string; in?: Expr }
  | { op: 'if'; if: Expr; then: Expr; else: Expr }
  | { op: 'set'; elements: Expr[] }
  | { op: 'record'; attributes: Record<string, Expr> }
  | { op: 'call'; fn: string; args: Expr[] };

/** A `when` or `unless` clause. */
export interface Condition {
  kind: 'when' | 'unless';
  body: Expr;
}

/** One policy in Cedar's JSON form, typed. */
export interface PolicyEst {
  effect: 'permit' | 'forbid';
  principal: PrincipalOrResourceScope;
  action: ActionScope;
  resource: PrincipalOrResourceScope;
  conditions: Condition[];
  annotations: Record<string, string>;
}

/** The EST holds a construct this reader does not know: `path` says where. */
export class EstError extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`unknown construct in Cedar's JSON form of a policy at ${path}: ${what}`);
    this.name = 'EstError';
  }
}

type Json = unknown;

function isObject(x: Json): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: Json): string {
  const text = JSON.stringify(x) ?? String(x);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function str(x: Json, path: string): string {
  if (typeof x !== 'string') throw new EstError(path, `expected a string, got ${describe(x)}`);
  return x;
}

function obj(x: Json, path: string): Record<string, Json> {
  if (!isObject(x)) throw new EstError(path, `expected an object, got ${describe(x)}`);
  return x;
}

function arr(x: Json, path: string): Json[] {
  if (!Array.isArray(x)) throw new EstError(path, `expected an array, got ${describe(x)}`);
  return x;
}

/** `{type, id}` or `{__entity: {type, id}}`. */
export function toEntityRef(x: Json, path: string): EntityRef {
  const o = obj(x, path);
  const inner = '__entity' in o ? obj(o['__entity'], `${path}.__entity`) : o;
  return { type: str(inner['type'], `${path}.type`), id: str(inner['id'], `${path}.id`) };
}

/** Reads Cedar's JSON form of one policy; throws {@link EstError} on anything unknown. */
export function toPolicyEst(json: Json): PolicyEst {
  const o = obj(json, 'policy');
  const effect = o['effect'];
  if (effect !== 'permit' && effect !== 'forbid') {
    throw new EstError('effect', `expected "permit" or "forbid", got ${describe(effect)}`);
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObject(o['annotations']) ? o['annotations'] : {})) {
    // `@key` without a value is `null` in some versions: Cedar reads it as "".
    annotations[k] = v === null ? '' : str(v, `annotations.${k}`);
  }
  return {
    effect,
    principal: toScope(o['principal'], 'principal'),
    action: toActionScope(o['action']),
    resource: toScope(o['resource'], 'resource'),
    conditions: arr(o['conditions'] ?? [], 'conditions').map((c, i) => {
      const clause = obj(c, `conditions[${i}]`);
      const kind = clause['kind'];
      if (kind !== 'when' && kind !== 'unless') {
        throw new EstError(`conditions[${i}].kind`, `expected "when" or "unless"`);
      }
      return { kind, body: toExpr(clause['body'], `conditions[${i}].body`) };
    }),
    annotations,
  };
}

function toScope(x: Json, path: string): PrincipalOrResourceScope {
  const o = obj(x, path);
  const slotOrEntity = (): PrincipalOrResourceScope | EntityRef =>
    'slot' in o
      ? { op: 'slot', slot: str(o['slot'], `${path}.slot`) }
      : toEntityRef(o['entity'], `${path}.entity`);
  switch (o['op']) {
    case 'All':
      return { op: 'All' };
    case '==':
    case 'in': {
      const target = slotOrEntity();
      if ('op' in target) return target;
      return { op: o['op'], entity: target };
    }
    case 'is': {
      const entityType = str(o['entity_type'], `${path}.entity_type`);
      if (o['in'] === undefined) return { op: 'is', entityType };
      const inner = obj(o['in'], `${path}.in`);
      if ('slot' in inner) return { op: 'slot', slot: str(inner['slot'], `${path}.in.slot`) };
      return { op: 'is', entityType, in: toEntityRef(inner['entity'], `${path}.in.entity`) };
    }
    default:
      throw new EstError(`${path}.op`, `unknown scope operator ${describe(o['op'])}`);
  }
}

function toActionScope(x: Json): ActionScope {
  const o = obj(x, 'action');
  switch (o['op']) {
    case 'All':
      return { op: 'All' };
    case '==':
      return { op: '==', entity: toEntityRef(o['entity'], 'action.entity') };
    case 'in':
      if (Array.isArray(o['entities'])) {
        return {
          op: 'in',
          entities: o['entities'].map((e, i) => toEntityRef(e, `action.entities[${i}]`)),
        };
      }
      return { op: 'in', entities: [toEntityRef(o['entity'], 'action.entity')] };
    default:
      throw new EstError('action.op', `unknown scope operator ${describe(o['op'])}`);
  }
}

const BINARY = new Set<string>(BINARY_OPS);
const VARS = new Set(['principal', 'action', 'resource', 'context']);

/** Reads one expression of the EST; throws {@link EstError} on anything unknown. */
export function toExpr(x: Json, path: string): Expr {
  const o = obj(x, path);
  const keys = Object.keys(o);
  if (keys.length !== 1) {
    throw new EstError(path, `an expression has exactly one key, got ${describe(keys)}`);
  }
  const key = keys[0] as string;
  const body = o[key];
  const at = `${path}.${key}`;
  if (BINARY.has(key)) {
    const b = obj(body, at);
    return {
      op: key as BinaryOp,
      left: toExpr(b['left'], `${at}.left`),
      right: toExpr(b['right'], `${at}.right`),
    };
  }
  switch (key) {
    case 'Value':
      return { op: 'value', value: toValue(body, at) };
    case 'Var': {
      const name = str(body, at);
      if (!VARS.has(name)) throw new EstError(at, `unknown variable ${describe(name)}`);
      return { op: 'var', name: name as 'principal' };
    }
    case 'Slot':
      return { op: 'slot', slot: str(body, at) };
    case '!':
    case 'neg':
    case 'isEmpty':
      return { op: key, arg: toExpr(obj(body, at)['arg'], `${at}.arg`) };
    default:
      return toCompoundExpr(key, body, at);
  }
}

function toCompoundExpr(key: string, body: Json, at: string): Expr {
  switch (key) {
    case '.': {
      const b = obj(body, at);
      return { op: '.', left: toExpr(b['left'], `${at}.left`), attr: str(b['attr'], `${at}.attr`) };
    }
    case 'has': {
      const b = obj(body, at);
      const attr = b['attr'];
      const path = Array.isArray(attr)
        ? attr.map((a, i) => str(a, `${at}.attr[${i}]`))
        : [str(attr, `${at}.attr`)];
      if (path.length === 0) throw new EstError(`${at}.attr`, 'an empty attribute path');
      return { op: 'has', left: toExpr(b['left'], `${at}.left`), path };
    }
    case 'like': {
      const b = obj(body, at);
      const pattern = arr(b['pattern'], `${at}.pattern`).map((p, i): PatternElem => {
        if (p === 'Wildcard') return { kind: 'wildcard' };
        return { kind: 'literal', text: str(obj(p, `${at}.pattern[${i}]`)['Literal'], at) };
      });
      return { op: 'like', left: toExpr(b['left'], `${at}.left`), pattern };
    }
    case 'is': {
      const b = obj(body, at);
      const out: Expr = {
        op: 'is',
        left: toExpr(b['left'], `${at}.left`),
        entityType: str(b['entity_type'], `${at}.entity_type`),
      };
      if (b['in'] !== undefined) out.in = toExpr(b['in'], `${at}.in`);
      return out;
    }
    case 'if-then-else': {
      const b = obj(body, at);
      return {
        op: 'if',
        if: toExpr(b['if'], `${at}.if`),
        then: toExpr(b['then'], `${at}.then`),
        else: toExpr(b['else'], `${at}.else`),
      };
    }
    case 'Set':
      return { op: 'set', elements: arr(body, at).map((e, i) => toExpr(e, `${at}[${i}]`)) };
    case 'Record': {
      const attributes: Record<string, Expr> = {};
      for (const [k, v] of Object.entries(obj(body, at))) attributes[k] = toExpr(v, `${at}.${k}`);
      return { op: 'record', attributes };
    }
    default:
      // Any other single key whose value is a list of arguments is an extension function call.
      if (Array.isArray(body)) {
        return { op: 'call', fn: key, args: body.map((e, i) => toExpr(e, `${at}[${i}]`)) };
      }
      throw new EstError(at, `unknown expression ${describe(key)}`);
  }
}

/** Reads a literal value of the EST (`{__entity}`, `{__extn}`, a record, a set, a scalar). */
export function toValue(x: Json, path: string): EstValue {
  if (typeof x === 'boolean') return { kind: 'bool', value: x };
  if (typeof x === 'number') {
    if (!Number.isInteger(x)) throw new EstError(path, `a non-integer number ${x}`);
    return { kind: 'long', value: x, exact: Number.isSafeInteger(x) };
  }
  if (typeof x === 'string') return { kind: 'string', value: x };
  if (Array.isArray(x)) {
    return { kind: 'set', elements: x.map((e, i) => toValue(e, `${path}[${i}]`)) };
  }
  const o = obj(x, path);
  if ('__entity' in o) return { kind: 'entity', entity: toEntityRef(o, path) };
  if ('__extn' in o) {
    const e = obj(o['__extn'], `${path}.__extn`);
    const args = 'args' in e ? arr(e['args'], `${path}.__extn.args`) : [e['arg']];
    return {
      kind: 'extension',
      fn: str(e['fn'], `${path}.__extn.fn`),
      args: args.map((a, i) => toValue(a, `${path}.__extn.args[${i}]`)),
    };
  }
  const attributes: Record<string, EstValue> = {};
  for (const [k, v] of Object.entries(o)) attributes[k] = toValue(v, `${path}.${k}`);
  return { kind: 'record', attributes };
}

/** The direct subexpressions of `e`, in the order Cedar evaluates them. */
export function subExpressionsOf(e: Expr): Expr[] {
  switch (e.op) {
    case 'value':
    case 'var':
    case 'slot':
      return [];
    case '!':
    case 'neg':
    case 'isEmpty':
      return [e.arg];
    case '.':
    case 'has':
    case 'like':
      return [e.left];
    case 'is':
      return e.in === undefined ? [e.left] : [e.left, e.in];
    case 'if':
      return [e.if, e.then, e.else];
    case 'set':
      return e.elements;
    case 'record':
      return Object.values(e.attributes);
    case 'call':
      return e.args;
    default:
      return [e.left, e.right];
  }
}
