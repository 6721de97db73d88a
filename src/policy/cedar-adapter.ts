/**
 * The one module that talks to Cedar (@cedar-policy/cedar-wasm). Everything else works on the
 * project's own types, so the engine can be swapped here alone.
 *
 * Cedar reports source positions as UTF-8 byte offsets into the text it was given; every answer
 * leaving this module carries character indices into that same text instead.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as Cedar from '@cedar-policy/cedar-wasm/nodejs';

// V8 (Node 20 and 22 alike) can crash the whole process — "Fatal error ... unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation, SIGTRAP — when TurboFan has inlined a JS→Wasm call
// and the caller is lazily deoptimized while Cedar runs. It took ~25 s of Cedar-decided role
// PUTs to hit in the benchmark; without the inlining it never did, at the same throughput
// (docs/benchmarks.md, "Findings"). The flag only affects code optimized after this point,
// and this module is the first to touch Cedar.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

// ---------------------------------------------------------------------------------------------
// The engine instance

/**
 * Cedar's wasm instance. Deeply nested text overflows its stack (`memory access out of bounds`,
 * `Maximum call stack size exceeded`), after which every call into that instance fails the same
 * way: a trapped instance is dead. policy-limits.ts keeps such text away; should a trap happen
 * anyway, the instance is thrown away and a fresh one loaded (the package's Node build is a
 * CommonJS file that instantiates the module when it runs, so running it again gives a new
 * instance: ~15–50 ms), and compiled sets preparse themselves again in it on their next call.
 */
type CedarModule = typeof Cedar;
const requireCedar = createRequire(import.meta.url);
const CEDAR_PATH = requireCedar.resolve('@cedar-policy/cedar-wasm/nodejs');
let instance = { module: loadCedar(), generation: 0 };
const replacedListeners = new Set<(reason: string) => void>();

function loadCedar(): CedarModule {
  delete requireCedar.cache[CEDAR_PATH];
  return requireCedar(CEDAR_PATH) as CedarModule;
}

/** A call into Cedar trapped; the instance was replaced (the call's work is lost). */
export class EngineTrapError extends Error {
  constructor(call: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`the policy engine failed in ${call} (${reason}); its instance was replaced`, { cause });
    this.name = 'EngineTrapError';
  }
}

function isTrap(err: unknown): boolean {
  return (
    err instanceof RangeError ||
    (err instanceof Error && err.constructor.name === 'RuntimeError') ||
    (err instanceof Error && /unreachable|memory access out of bounds/.test(err.message))
  );
}

/** Every call into Cedar goes through here: a trap replaces the instance, then throws. */
const cedar = new Proxy({} as CedarModule, {
  get(_target, name: string) {
    return (...args: unknown[]): unknown => {
      const used = instance;
      try {
        return (used.module[name as keyof CedarModule] as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        if (!isTrap(err)) throw err;
        const trap = new EngineTrapError(name, err);
        if (instance === used) {
          instance = { module: loadCedar(), generation: used.generation + 1 };
          for (const listener of replacedListeners) listener(trap.message);
        }
        throw trap;
      }
    };
  },
});

/** Increments each time the instance is replaced after a trap. */
export function engineGeneration(): number {
  return instance.generation;
}

/** Calls `listener(reason)` after each replacement of the instance; returns the unsubscriber. */
export function onEngineReplaced(listener: (reason: string) => void): () => void {
  replacedListeners.add(listener);
  return () => replacedListeners.delete(listener);
}
import { callShapeOf, type CallShape } from './call-shape.js';
import {
  compiledFrom,
  planCompile,
  PREPARSE_CHUNK,
  type CedarEngine,
  type CompiledPolicySet,
  type CompileOptions,
  type CompilePlan,
} from './cedar-policy-set.js';
import {
  joinMessages,
  shiftProblem,
  toProblem,
  toProblems,
  type CedarError,
  type CedarProblem,
} from './cedar-problems.js';
import type { PolicyMeta } from './decision-combine.js';
import { toPolicyEst, type PolicyEst } from './est.js';
import {
  actionGroupsOf,
  entityAttributesOf,
  toSchemaJson,
  type SchemaJson,
  type SchemaNamespace,
} from './schema-json.js';
import { splitPolicies } from './text-scanners.js';
import type { ParsedSchema } from './types.js';

export type { CedarProblem } from './cedar-problems.js';
export type { CompiledPolicySet, CompileOptions } from './cedar-policy-set.js';
export { PREPARSE_CHUNK } from './cedar-policy-set.js';
export type { PolicyMeta } from './decision-combine.js';
export type { SchemaNamespace, SchemaShapes, SchemaType } from './schema-json.js';

// ---------------------------------------------------------------------------------------------
// Schema

/**
 * The namespaces of a schema in Cedar syntax, keyed by name (`''` for none), or what is wrong
 * with it. Which namespace is the one cedargate speaks is schema.ts's rule, not Cedar's.
 */
export function resolveSchema(
  text: string,
):
  | { ok: true; namespaces: Record<string, SchemaNamespace>; json: SchemaJson }
  | { ok: false; problems: CedarProblem[] } {
  // checkParseSchema points at the right place for unresolved names; schemaToJson does not.
  const check = cedar.checkParseSchema(text);
  if (check.type !== 'success') return { ok: false, problems: toProblems(check.errors, text) };
  const answer = cedar.schemaToJsonWithResolvedTypes(text);
  if (answer.type !== 'success') return { ok: false, problems: toProblems(answer.errors, text) };
  const json = toSchemaJson(answer.json);
  const namespaces: Record<string, SchemaNamespace> = {};
  for (const [ns, def] of Object.entries(json)) {
    const entityTypes: SchemaNamespace['entityTypes'] = {};
    for (const [name, e] of Object.entries(def.entityTypes)) {
      entityTypes[name] = e.kind === 'enum' ? { enum: e.members } : {};
    }
    const entityAttributes: SchemaNamespace['entityAttributes'] = {};
    for (const [action, spec] of Object.entries(def.actions)) {
      entityAttributes[action] = entityAttributesOf(spec.appliesTo?.context ?? {});
    }
    namespaces[ns] = { entityTypes, entityAttributes };
  }
  return { ok: true, namespaces, json };
}

// ---------------------------------------------------------------------------------------------
// Policies

/** One policy of a policy file, as written. */
export interface ParsedPolicy {
  effect: 'permit' | 'forbid';
  annotations: Record<string, string>;
  /** The policy's own text (its annotations and the comments before it included). */
  text: string;
  /** Character index of `text` in the file. */
  start: number;
  /** Character index of the policy's first token (its first annotation or its effect). */
  firstToken: number;
}

/**
 * Parses one policy file into its policies, each with its own text and position, so that later
 * errors can be pointed at the file. Templates are refused: nothing links them.
 */
export function parsePolicyFile(
  text: string,
): { ok: true; policies: ParsedPolicy[] } | { ok: false; problems: CedarProblem[] } {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'success' && parts.policy_templates.length > 0) {
    return {
      ok: false,
      problems: [
        { message: 'templates (policies with ?principal or ?resource) are not supported' },
      ],
    };
  }
  // checkParsePolicySet points syntax errors at the right place.
  const check = cedar.checkParsePolicySet({ staticPolicies: text });
  if (check.type !== 'success') return { ok: false, problems: toProblems(check.errors, text) };
  if (parts.type !== 'success') return { ok: false, problems: toProblems(parts.errors, text) };
  const chunks = splitPolicies(text);
  if (chunks.length !== parts.policies.length) {
    // The splitter and Cedar disagree: refuse rather than point errors at the wrong policy.
    return {
      ok: false,
      problems: [{ message: `cannot split this file into its ${parts.policies.length} policies` }],
    };
  }
  const policies: ParsedPolicy[] = [];
  for (const chunk of chunks) {
    const json = cedar.policyToJson(chunk.text);
    if (json.type !== 'success') {
      return {
        ok: false,
        problems: toProblems(json.errors, chunk.text).map((p) => shiftProblem(p, chunk.start)),
      };
    }
    policies.push({
      effect: json.json.effect,
      annotations: { ...(json.json.annotations ?? {}) },
      text: chunk.text,
      start: chunk.start,
      firstToken: chunk.firstToken,
    });
  }
  return { ok: true, policies };
}

/** A policy-level validation problem: `policyId` is the key the policy was given. */
export interface PolicyValidationProblem extends CedarProblem {
  policyId: string;
}

/**
 * Validates policies (keyed by `@id`, each with its own text) strictly against a schema. `index`
 * of each problem points into that policy's own text.
 */
export function validatePolicies(
  schemaText: string,
  policies: Record<string, string>,
): {
  errors: PolicyValidationProblem[];
  warnings: PolicyValidationProblem[];
  schemaProblems: CedarProblem[];
} {
  const answer = cedar.validate({
    schema: schemaText,
    policies: { staticPolicies: policies },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type !== 'success') {
    return { errors: [], warnings: [], schemaProblems: toProblems(answer.errors, schemaText) };
  }
  const convert = (e: { policyId: string; error: CedarError }): PolicyValidationProblem => ({
    policyId: e.policyId,
    ...toProblem(e.error, policies[e.policyId] ?? ''),
  });
  return {
    errors: answer.validationErrors.map(convert),
    warnings: answer.validationWarnings.map(convert),
    schemaProblems: [],
  };
}

/** Cedar's formatter; `null` problems mean the text did not parse. */
export function formatPolicyText(
  text: string,
): { ok: true; formatted: string } | { ok: false; problems: CedarProblem[] } {
  const answer = cedar.formatPolicies({ policyText: text, lineWidth: 80, indentWidth: 2 });
  if (answer.type !== 'success') return { ok: false, problems: toProblems(answer.errors, text) };
  return { ok: true, formatted: answer.formatted_policy };
}

/** The meaning of policy text (each policy's JSON form), to prove formatting changed only layout. */
export function policyMeaningOf(text: string): string | null {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') return null;
  const out: unknown[] = [];
  for (const p of [...parts.policies, ...parts.policy_templates]) {
    const json = cedar.policyToJson(p);
    if (json.type !== 'success') return null;
    out.push(json.json);
  }
  return JSON.stringify(out);
}

/** An entity a policy names literally (`User::"alice"`), wherever in the policy it stands. */
export interface EntityLiteral {
  type: string;
  id: string;
}

/**
 * Every entity literal of a policy, read from Cedar's JSON form (EST) of it. In the EST an id
 * occurs only inside an entity reference `{type, id}` (a scope's `entity`/`entities`, a
 * `Value`'s `__entity`), so collecting every such object anywhere in the tree finds them all; a
 * stray `{type, id}` record literal would be collected too, which only keeps more ids concrete.
 */
export function entityLiteralsOf(policyText: string): EntityLiteral[] {
  const json = cedar.policyToJson(policyText);
  if (json.type !== 'success') throw new Error(joinMessages(json.errors));
  const out: EntityLiteral[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const o = node as Record<string, unknown>;
    if (typeof o['type'] === 'string' && typeof o['id'] === 'string') {
      out.push({ type: o['type'], id: o['id'] });
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(json.json);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Deciding

/** The calls a compiled set makes, through the instance above. */
const engine: CedarEngine = {
  preparseSchema(slot, schemaText) {
    const answer = cedar.preparseSchema(slot, schemaText);
    if (answer.type !== 'success') throw new Error(joinMessages(answer.errors));
  },
  preparsePolicySet(slot, policies) {
    const answer = cedar.preparsePolicySet(slot, { staticPolicies: policies });
    if (answer.type !== 'success') throw new Error(joinMessages(answer.errors));
  },
  isAuthorized({ schemaSlot, setSlot, ...call }) {
    return cedar.statefulIsAuthorized({
      ...call,
      // Our JSON is Cedar's (cedar-request.ts): its context and entity types are narrower.
      context: call.context as Cedar.Context,
      entities: call.entities as Cedar.EntityJson[],
      preparsedSchemaName: schemaSlot,
      preparsedPolicySetId: setSlot,
      validateRequest: true,
    });
  },
  generation: () => instance.generation,
};

function plan(
  slot: string,
  schema: ParsedSchema,
  policies: Record<string, string>,
  options: CompileOptions,
): CompilePlan {
  const callShape =
    options.form === 'full' ? null : (options.callShape ?? callShapeFor(schema, policies));
  const chunkSize = Math.max(1, options.chunkSize ?? PREPARSE_CHUNK);
  return planCompile(engine, slot, schema, policies, callShape, chunkSize);
}

/**
 * Preparses a validated policy set and its schema under `slot` (Cedar keeps preparsed sets by
 * name; preparsing the same slot again replaces them, so a store reuses one slot per store and
 * leaks nothing across reloads). The caller must have validated the set strictly.
 */
export function compilePolicySet(
  slot: string,
  schema: ParsedSchema,
  policies: Record<string, string>,
  meta: Record<string, PolicyMeta>,
  options: CompileOptions = {},
): CompiledPolicySet {
  const p = plan(slot, schema, policies, options);
  for (const step of p.steps) step();
  return compiledFrom(engine, p, schema, meta);
}

/**
 * {@link compilePolicySet} one preparse per turn of the event loop: a large set (thousands of
 * policies take seconds to preparse) never holds requests for longer than one chunk.
 */
export async function compilePolicySetInTurns(
  slot: string,
  schema: ParsedSchema,
  policies: Record<string, string>,
  meta: Record<string, PolicyMeta>,
  options: CompileOptions = {},
): Promise<CompiledPolicySet> {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await turn();
  const p = plan(slot, schema, policies, options);
  for (const step of p.steps) {
    await turn();
    step();
  }
  return compiledFrom(engine, p, schema, meta);
}

/** The fitted call shape of `policies` under `schema`, from each policy's EST. */
export function callShapeFor(schema: ParsedSchema, policies: Record<string, string>): CallShape {
  const trees = policyTreesOf(policies);
  const tenant = schema.shapes.entities[schema.types.tenant];
  return callShapeOf(trees, {
    actionType: schema.types.action,
    actions: Object.keys(schema.entityAttributes),
    groups: actionGroupsOf(schema.json),
    // An undeclared Tenant is not one the adapter can reason about: keep the full form.
    tenantHasData: tenant === undefined || tenant.tags || Object.keys(tenant.attributes).length > 0,
  });
}

/** Each policy's EST as the typed tree of est.ts, keyed as given. Throws if one does not parse. */
export function policyTreesOf(
  policies: Readonly<Record<string, string>>,
): Record<string, PolicyEst> {
  const out: Record<string, PolicyEst> = {};
  for (const [id, text] of Object.entries(policies)) {
    const json = cedar.policyToJson(text);
    if (json.type !== 'success') throw new Error(joinMessages(json.errors));
    out[id] = toPolicyEst(json.json);
  }
  return out;
}
