/**
 * Cedar's JSON form of a schema (as `schemaToJsonWithResolvedTypes` gives it), as the project's
 * own typed tree: read once, at the Cedar adapter's edge ({@link toSchemaJson}). Entity and
 * action names are fully qualified (`Cedargate::User`), attribute types too.
 */
import type { EntityRef } from './est.js';
import type { ContextAttributeKind } from './types.js';

/** A schema type, as far as the project reads it. An unresolved name reads as an extension. */
export type SchemaType =
  | { kind: 'Bool' | 'Long' | 'String' }
  | { kind: 'Entity'; name: string }
  | { kind: 'Set'; element: SchemaType }
  | { kind: 'Record'; attributes: Record<string, SchemaType> }
  | { kind: 'Extension'; name: string };

/** One attribute of an entity type or of a context. */
export interface SchemaAttribute {
  type: SchemaType;
  required: boolean;
}

/** An entity type: an enum (its members) or a standard one. */
export type SchemaEntityType =
  | { kind: 'enum'; members: string[] }
  | {
      kind: 'standard';
      /** Fully qualified parent types. */
      memberOfTypes: string[];
      attributes: Record<string, SchemaAttribute>;
      /** The declared tag type, or null when the type has no tags. */
      tags: SchemaType | null;
    };

/** An action: the groups it is in, and what it applies to (null for a group without). */
export interface SchemaAction {
  memberOf: EntityRef[];
  appliesTo: {
    principalTypes: string[];
    resourceTypes: string[];
    /** The context's attributes; `null` when the context is not a plain record type. */
    context: Record<string, SchemaAttribute> | null;
  } | null;
}

/** One namespace, keyed by unqualified entity type and action names. */
export interface SchemaNamespaceJson {
  entityTypes: Record<string, SchemaEntityType>;
  actions: Record<string, SchemaAction>;
}

/** A schema: its namespaces by name (`''` for none). */
export type SchemaJson = Record<string, SchemaNamespaceJson>;

/**
 * One namespace of a schema as Cedar resolves it, in the project's terms: its entity types (with
 * their enum members) and, per action, the context attributes that are entity references.
 */
export interface SchemaNamespace {
  entityTypes: Record<string, { enum?: string[] }>;
  entityAttributes: Record<string, Record<string, ContextAttributeKind>>;
}

/** The schema JSON holds a construct this reader does not know. */
export class SchemaJsonError extends Error {
  constructor(path: string, what: string) {
    super(`unknown construct in Cedar's JSON form of a schema at ${path}: ${what}`);
    this.name = 'SchemaJsonError';
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function obj(x: unknown, path: string): Record<string, unknown> {
  if (x === undefined) return {};
  if (!isObject(x)) throw new SchemaJsonError(path, `expected an object, got ${JSON.stringify(x)}`);
  return x;
}

function strings(x: unknown, path: string): string[] {
  if (x === undefined) return [];
  if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) {
    throw new SchemaJsonError(path, 'expected a list of names');
  }
  return x;
}

/** Reads Cedar's resolved JSON form of a schema; throws {@link SchemaJsonError}. */
export function toSchemaJson(json: unknown): SchemaJson {
  const out: SchemaJson = {};
  for (const [ns, def] of Object.entries(obj(json, 'schema'))) {
    const d = obj(def, ns);
    const entityTypes: Record<string, SchemaEntityType> = {};
    for (const [name, e] of Object.entries(obj(d['entityTypes'], `${ns}.entityTypes`))) {
      entityTypes[name] = toEntityType(obj(e, `${ns}.${name}`), `${ns}.${name}`);
    }
    const actions: Record<string, SchemaAction> = {};
    for (const [name, a] of Object.entries(obj(d['actions'], `${ns}.actions`))) {
      actions[name] = toAction(obj(a, `${ns}.actions.${name}`), `${ns}.actions.${name}`);
    }
    out[ns] = { entityTypes, actions };
  }
  return out;
}

function toEntityType(e: Record<string, unknown>, path: string): SchemaEntityType {
  if (e['enum'] !== undefined) return { kind: 'enum', members: strings(e['enum'], path) };
  const shape = e['shape'] === undefined ? undefined : obj(e['shape'], `${path}.shape`);
  return {
    kind: 'standard',
    memberOfTypes: strings(e['memberOfTypes'], `${path}.memberOfTypes`),
    attributes: shape?.['type'] === 'Record' ? attributesOf(shape, `${path}.shape`) : {},
    tags: e['tags'] === undefined ? null : toSchemaType(obj(e['tags'], `${path}.tags`), path),
  };
}

function toAction(a: Record<string, unknown>, path: string): SchemaAction {
  const memberOf = (Array.isArray(a['memberOf']) ? a['memberOf'] : []).map((m, i) => {
    const r = obj(m, `${path}.memberOf[${i}]`);
    if (typeof r['id'] !== 'string') throw new SchemaJsonError(path, 'a memberOf without id');
    // A group named without a type is an action of the same namespace's Action type.
    return { type: typeof r['type'] === 'string' ? r['type'] : '', id: r['id'] };
  });
  if (a['appliesTo'] === undefined) return { memberOf, appliesTo: null };
  const applies = obj(a['appliesTo'], `${path}.appliesTo`);
  const context =
    applies['context'] === undefined ? { type: 'Record', attributes: {} } : applies['context'];
  const c = obj(context, `${path}.appliesTo.context`);
  return {
    memberOf,
    appliesTo: {
      principalTypes: strings(applies['principalTypes'], `${path}.appliesTo.principalTypes`),
      resourceTypes: strings(applies['resourceTypes'], `${path}.appliesTo.resourceTypes`),
      context: c['type'] === 'Record' ? attributesOf(c, `${path}.appliesTo.context`) : null,
    },
  };
}

function attributesOf(
  record: Record<string, unknown>,
  path: string,
): Record<string, SchemaAttribute> {
  const out: Record<string, SchemaAttribute> = {};
  for (const [name, t] of Object.entries(obj(record['attributes'], `${path}.attributes`))) {
    const spec = obj(t, `${path}.${name}`);
    out[name] = {
      type: toSchemaType(spec, `${path}.${name}`),
      required: spec['required'] !== false,
    };
  }
  return out;
}

/** One type; a name that is neither a primitive nor resolved reads as an extension type. */
export function toSchemaType(t: Record<string, unknown>, path: string): SchemaType {
  const type = t['type'];
  if (typeof type !== 'string') throw new SchemaJsonError(path, 'a type without `type`');
  switch (type) {
    case 'Bool':
    case 'Boolean':
      return { kind: 'Bool' };
    case 'Long':
      return { kind: 'Long' };
    case 'String':
      return { kind: 'String' };
    case 'Entity':
    case 'EntityOrCommon':
      return { kind: 'Entity', name: typeof t['name'] === 'string' ? t['name'] : '' };
    case 'Set':
      return t['element'] === undefined
        ? { kind: 'Extension', name: 'Set' }
        : { kind: 'Set', element: toSchemaType(obj(t['element'], path), `${path}.element`) };
    case 'Record': {
      const attributes: Record<string, SchemaType> = {};
      for (const [k, v] of Object.entries(attributesOf(t, path))) attributes[k] = v.type;
      return { kind: 'Record', attributes };
    }
    case 'Extension':
      return { kind: 'Extension', name: typeof t['name'] === 'string' ? t['name'] : '' };
    default:
      return { kind: 'Extension', name: type };
  }
}

/** The attributes (and whether tags are declared) of each entity type, and each action's context. */
export interface SchemaShapes {
  entities: Record<string, { attributes: Record<string, SchemaType>; tags: boolean }>;
  contexts: Record<string, Record<string, SchemaType>>;
}

/** The shapes of a schema, entity names fully qualified, actions by their id. */
export function shapesOf(schema: SchemaJson): SchemaShapes {
  const out: SchemaShapes = { entities: {}, contexts: {} };
  const typesOf = (attrs: Record<string, SchemaAttribute>): Record<string, SchemaType> =>
    Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, v.type]));
  for (const [ns, def] of Object.entries(schema)) {
    const qualify = (name: string) => (ns === '' ? name : `${ns}::${name}`);
    for (const [name, e] of Object.entries(def.entityTypes)) {
      out.entities[qualify(name)] =
        e.kind === 'enum'
          ? { attributes: {}, tags: false }
          : { attributes: typesOf(e.attributes), tags: e.tags !== null };
    }
    for (const [name, a] of Object.entries(def.actions)) {
      out.contexts[name] = typesOf(a.appliesTo?.context ?? {});
    }
  }
  return out;
}

/**
 * The actions some action is `in` (groups are declared actions too), by id: a scope naming one
 * may match actions other than itself (call-shape.ts, authoring/atoms.ts).
 */
export function actionGroupsOf(schema: SchemaJson): string[] {
  const ids = Object.values(schema).flatMap((ns) =>
    Object.values(ns.actions).flatMap((a) => a.memberOf.map((m) => m.id)),
  );
  return [...new Set(ids)];
}

/** The context attributes that are entity references, or sets of them. */
export function entityAttributesOf(
  context: Readonly<Record<string, SchemaAttribute>>,
): Record<string, ContextAttributeKind> {
  const out: Record<string, ContextAttributeKind> = {};
  for (const [name, { type: t }] of Object.entries(context)) {
    if (t.kind === 'Entity') out[name] = { kind: 'entity', type: t.name };
    else if (t.kind === 'Set' && t.element.kind === 'Entity') {
      out[name] = { kind: 'entitySet', type: t.element.name };
    }
  }
  return out;
}
