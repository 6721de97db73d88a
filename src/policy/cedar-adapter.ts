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
import { callShapeOf, type CallShape, type PolicyEst } from './call-shape.js';
import { leaveOutUnknownRoles } from './known-roles.js';
import { charIndexOfByte } from './source-position.js';
import { splitPolicies } from './text-scanners.js';
import type {
  AuthzContext,
  AuthzRequest,
  ContextAttributeKind,
  Decision,
  ParsedSchema,
} from './types.js';

/** A problem Cedar found, with the character index it points at in the text it was given. */
export interface CedarProblem {
  message: string;
  help?: string;
  /** Character index into the text that was checked; absent when Cedar gave no location. */
  index?: number;
}

// ---------------------------------------------------------------------------------------------
// Schema

/**
 * One namespace of a schema as Cedar resolves it, in the project's terms: its entity types (with
 * their enum members) and, per action, the context attributes that are entity references.
 */
export interface SchemaNamespace {
  entityTypes: Record<string, { enum?: string[] }>;
  entityAttributes: Record<string, Record<string, ContextAttributeKind>>;
}

interface SchemaNamespaceJson {
  entityTypes?: Record<string, { enum?: string[] }>;
  actions?: Record<string, { appliesTo?: { context?: SchemaTypeJson } }>;
}
interface SchemaTypeJson {
  type: string;
  name?: string;
  element?: SchemaTypeJson;
  attributes?: Record<string, SchemaTypeJson>;
}

/**
 * The namespaces of a schema in Cedar syntax, keyed by name (`''` for none), or what is wrong
 * with it. Which namespace is the one cedargate speaks is schema.ts's rule, not Cedar's.
 */
export function resolveSchema(
  text: string,
):
  | { ok: true; namespaces: Record<string, SchemaNamespace> }
  | { ok: false; problems: CedarProblem[] } {
  // checkParseSchema points at the right place for unresolved names; schemaToJson does not.
  const check = cedar.checkParseSchema(text);
  if (check.type !== 'success') return { ok: false, problems: toProblems(check.errors, text) };
  const answer = cedar.schemaToJsonWithResolvedTypes(text);
  if (answer.type !== 'success') return { ok: false, problems: toProblems(answer.errors, text) };
  const namespaces: Record<string, SchemaNamespace> = {};
  for (const [ns, def] of Object.entries(answer.json as Record<string, SchemaNamespaceJson>)) {
    const entityAttributes: SchemaNamespace['entityAttributes'] = {};
    for (const [action, spec] of Object.entries(def.actions ?? {})) {
      entityAttributes[action] = entityAttributesOf(spec.appliesTo?.context);
    }
    namespaces[ns] = { entityTypes: def.entityTypes ?? {}, entityAttributes };
  }
  return { ok: true, namespaces };
}

function entityAttributesOf(
  context: SchemaTypeJson | undefined,
): Record<string, ContextAttributeKind> {
  const out: Record<string, ContextAttributeKind> = {};
  if (context?.type !== 'Record') return out;
  for (const [name, t] of Object.entries(context.attributes ?? {})) {
    if (t.type === 'Entity' && t.name !== undefined) out[name] = { kind: 'entity', type: t.name };
    else if (t.type === 'Set' && t.element?.type === 'Entity' && t.element.name !== undefined) {
      out[name] = { kind: 'entitySet', type: t.element.name };
    }
  }
  return out;
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
  const convert = (e: {
    policyId: string;
    error: Cedar.DetailedError;
  }): PolicyValidationProblem => ({
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

/** A schema type, as far as the request abstraction needs it. */
export type SchemaType =
  | { kind: 'Bool' | 'Long' | 'String' }
  | { kind: 'Entity'; name: string }
  | { kind: 'Set'; element: SchemaType }
  | { kind: 'Record'; attributes: Record<string, SchemaType> }
  | { kind: 'Extension'; name: string };

/** The attributes (and whether tags are declared) of each entity type, and each action's context. */
export interface SchemaShapes {
  entities: Record<string, { attributes: Record<string, SchemaType>; tags: boolean }>;
  contexts: Record<string, Record<string, SchemaType>>;
}

/** The shapes a schema declares, names fully qualified. Throws if the schema does not parse. */
export function schemaShapesOf(schemaText: string): SchemaShapes {
  const answer = cedar.schemaToJsonWithResolvedTypes(schemaText);
  if (answer.type !== 'success') throw new Error(joinMessages(answer.errors));
  const out: SchemaShapes = { entities: {}, contexts: {} };
  type Ns = {
    entityTypes?: Record<string, { shape?: SchemaTypeJson; tags?: unknown }>;
    actions?: Record<string, { appliesTo?: { context?: SchemaTypeJson } }>;
  };
  for (const [ns, def] of Object.entries(answer.json as Record<string, Ns>)) {
    const qualify = (name: string) => (ns === '' ? name : `${ns}::${name}`);
    for (const [name, e] of Object.entries(def.entityTypes ?? {})) {
      const shape = e.shape === undefined ? undefined : toSchemaType(e.shape);
      out.entities[qualify(name)] = {
        attributes: shape?.kind === 'Record' ? shape.attributes : {},
        tags: e.tags !== undefined,
      };
    }
    for (const [name, a] of Object.entries(def.actions ?? {})) {
      const ctx =
        a.appliesTo?.context === undefined ? undefined : toSchemaType(a.appliesTo.context);
      out.contexts[name] = ctx?.kind === 'Record' ? ctx.attributes : {};
    }
  }
  return out;
}

function toSchemaType(t: SchemaTypeJson): SchemaType {
  switch (t.type) {
    case 'Bool':
    case 'Boolean':
      return { kind: 'Bool' };
    case 'Long':
      return { kind: 'Long' };
    case 'String':
      return { kind: 'String' };
    case 'Entity':
      return { kind: 'Entity', name: t.name ?? '' };
    case 'Set':
      return t.element === undefined
        ? { kind: 'Extension', name: 'Set' }
        : { kind: 'Set', element: toSchemaType(t.element) };
    case 'Record': {
      const attributes: Record<string, SchemaType> = {};
      for (const [k, v] of Object.entries(t.attributes ?? {})) attributes[k] = toSchemaType(v);
      return { kind: 'Record', attributes };
    }
    default:
      return { kind: 'Extension', name: t.type };
  }
}

// ---------------------------------------------------------------------------------------------
// Deciding

/** What the engine knows of each policy to explain a decision. */
export interface PolicyMeta {
  effect: 'permit' | 'forbid';
  notice: string | null;
}

/** A validated policy set, preparsed inside Cedar and ready to answer requests. */
export interface CompiledPolicySet {
  /** Decides one request. Never throws: anything unexpected is a deny with an error. */
  authorize(request: AuthzRequest): Omit<Decision, 'cached'>;
  /** The fitted call shape (call-shape.ts), or null when compiled in the full form. */
  readonly callShape: CallShape | null;
}

/** Options of {@link compilePolicySet}. */
export interface CompileOptions {
  /**
   * `fitted` (the default): implicit entity references, a preparsed slice of the set per action,
   * and no tenant entities or parents where call-shape.ts finds no policy can tell. `full`: every
   * entity, `__entity` references and the whole set on every call (the reference the fitted
   * form is tested against).
   */
  form?: 'fitted' | 'full';
  /**
   * The fitted call shape when the caller has it ({@link callShapeFor}, in a worker): finding it
   * reads every policy's EST, a Cedar call each, which a large set should not cost the event loop.
   */
  callShape?: CallShape;
  /**
   * Policies preparsed per Cedar slot (default {@link PREPARSE_CHUNK}). A slice larger than
   * this is split, and decided by one call per chunk, the answers combined as Cedar combines
   * them: so no one preparse holds the event loop for long.
   */
  chunkSize?: number;
}

/** The default of {@link CompileOptions.chunkSize}: ~0.1–0.3 s of preparsing at most. */
export const PREPARSE_CHUNK = 250;

/** What compiling a set prepares in Cedar: each step one preparse, in order. */
interface CompilePlan {
  /** The schema's slot. */
  slot: string;
  steps: (() => void)[];
  callShape: CallShape | null;
  /** Per action, the slots of its slice's chunks (at least one, maybe empty). */
  sliceSlots: Record<string, string[]>;
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
  const plan = planCompile(slot, schema, policies, options);
  for (const step of plan.steps) step();
  return compiledFrom(plan, schema, meta);
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
  const plan = planCompile(slot, schema, policies, options);
  for (const step of plan.steps) {
    await turn();
    step();
  }
  return compiledFrom(plan, schema, meta);
}

function planCompile(
  slot: string,
  schema: ParsedSchema,
  policies: Record<string, string>,
  options: CompileOptions,
): CompilePlan {
  const chunkSize = Math.max(1, options.chunkSize ?? PREPARSE_CHUNK);
  const callShape =
    options.form === 'full' ? null : (options.callShape ?? callShapeFor(schema, policies));
  const steps: (() => void)[] = [
    () => {
      const answer = cedar.preparseSchema(slot, schema.text);
      if (answer.type !== 'success') throw new Error(joinMessages(answer.errors));
    },
  ];
  const slotsOf = (name: string, ids: readonly string[]): string[] => {
    const out: string[] = [];
    for (let k = 0; k === 0 || k * chunkSize < ids.length; k++) {
      const chunkSlot = `${slot}#${name}#${k}`;
      const chunk = ids.slice(k * chunkSize, (k + 1) * chunkSize);
      steps.push(() =>
        preparse(chunkSlot, Object.fromEntries(chunk.map((id) => [id, policies[id] ?? '']))),
      );
      out.push(chunkSlot);
    }
    return out;
  };
  const sliceSlots: Record<string, string[]> = {};
  if (callShape === null) {
    const all = slotsOf('all', Object.keys(policies));
    for (const action of Object.keys(schema.entityAttributes)) sliceSlots[action] = all;
  } else {
    for (const [action, ids] of Object.entries(callShape.slices)) {
      sliceSlots[action] = slotsOf(action, ids);
    }
  }
  return { slot, steps, callShape, sliceSlots };
}

function compiledFrom(
  plan: CompilePlan,
  schema: ParsedSchema,
  meta: Record<string, PolicyMeta>,
): CompiledPolicySet {
  const { callShape, sliceSlots } = plan;
  // The instance the plan's slots live in: after a trap they are preparsed again in the new one.
  let generation = instance.generation;
  const ensurePrepared = (): void => {
    if (generation === instance.generation) return;
    generation = instance.generation;
    for (const step of plan.steps) step();
  };
  const shape: EntityShape = {
    tenants: callShape?.tenantEntities ?? true,
    implicit: callShape !== null,
  };

  // Per action, the context attributes that are sets of roles: they carry stored roles too.
  const roleAttributes: Record<string, string[]> = {};
  for (const [action, attributes] of Object.entries(schema.entityAttributes)) {
    roleAttributes[action] = Object.entries(attributes)
      .filter(([, kind]) => kind.kind === 'entitySet' && kind.type === schema.types.role)
      .map(([name]) => name);
  }

  const decide = (request: AuthzRequest): Omit<Decision, 'cached'> => {
    const slots = sliceSlots[request.action];
    if (slots === undefined)
      return deny([], [`action "${request.action}" is not in the schema`], meta);
    const call = {
      principal: { type: schema.types.user, id: request.principal.id },
      action: { type: schema.types.action, id: request.action },
      resource: resourceUid(schema, request),
      context: contextJson(schema, request.action, request.context, shape),
      entities: entitiesOf(schema, request, shape),
      preparsedSchemaName: plan.slot,
      validateRequest: true,
    };
    const answers: Cedar.AuthorizationAnswer[] = [];
    try {
      ensurePrepared();
      for (const chunkSlot of slots) {
        answers.push(cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: chunkSlot }));
      }
    } catch (err) {
      return deny([], [`cedar threw: ${err instanceof Error ? err.message : String(err)}`], meta);
    }
    return combine(answers, meta);
  };

  return {
    callShape,
    authorize(request) {
      // A role retired from the schema would make Cedar refuse the whole request (known-roles.ts).
      const known = leaveOutUnknownRoles(
        request,
        schema.roles,
        roleAttributes[request.action] ?? [],
      );
      let decision = decide(known.request);
      // A trap replaced the instance mid-call: decide once more, in the fresh one.
      if (generation !== instance.generation) decision = decide(known.request);
      return known.ignoredRoles.length === 0
        ? decision
        : { ...decision, ignoredRoles: known.ignoredRoles };
    },
  };
}

/**
 * One decision from the answers of a slice's chunks, as one Cedar call over the whole slice
 * answers: any satisfied forbid denies (naming every satisfied forbid), else any satisfied permit
 * allows (naming every one), else deny; a failure never allows; a policy that errs denies.
 */
function combine(
  answers: readonly Cedar.AuthorizationAnswer[],
  meta: Record<string, PolicyMeta>,
): Omit<Decision, 'cached'> {
  const forbids: string[] = [];
  const permits: string[] = [];
  const erred: { policyId: string; error: Cedar.DetailedError }[] = [];
  for (const answer of answers) {
    // A failure (an undeclared role, a context the schema does not declare, ...) never allows.
    if (answer.type !== 'success') return deny([], answer.errors.map(formatError), meta);
    const { decision, diagnostics } = answer.response;
    (decision === 'allow' ? permits : forbids).push(...diagnostics.reason);
    erred.push(...diagnostics.errors);
  }
  const errors = erred.map((e) => `policy ${e.policyId}: ${formatError(e.error)}`);
  // Cedar skips a policy that errors, even a forbid; we deny and name it.
  if (erred.length > 0) return deny([...forbids, ...erred.map((e) => e.policyId)], errors, meta);
  if (forbids.length === 0 && permits.length > 0) {
    return { allowed: true, policies: [...permits].sort(), notices: [], errors };
  }
  return deny(forbids, errors, meta);
}

function preparse(slot: string, policies: Record<string, string>): void {
  const answer = cedar.preparsePolicySet(slot, { staticPolicies: policies });
  if (answer.type !== 'success') throw new Error(joinMessages(answer.errors));
}

/** The fitted call shape of `policies` under `schema`, from each policy's EST. */
export function callShapeFor(schema: ParsedSchema, policies: Record<string, string>): CallShape {
  const ests = policyEstsOf(policies);
  const tenant = schemaShapesOf(schema.text).entities[schema.types.tenant];
  return callShapeOf(ests, {
    actionType: schema.types.action,
    actions: Object.keys(schema.entityAttributes),
    // An undeclared Tenant is not one the adapter can reason about: keep the full form.
    tenantHasData: tenant === undefined || tenant.tags || Object.keys(tenant.attributes).length > 0,
  });
}

/** Cedar's JSON form (EST) of each policy, keyed as given. Throws if one does not parse. */
export function policyEstsOf(
  policies: Readonly<Record<string, string>>,
): Record<string, PolicyEst> {
  const ests: Record<string, PolicyEst> = {};
  for (const [id, text] of Object.entries(policies)) {
    const json = cedar.policyToJson(text);
    if (json.type !== 'success') throw new Error(joinMessages(json.errors));
    ests[id] = json.json;
  }
  return ests;
}

/** How entities and references are written: with tenant entities, as `__entity` or implicit. */
interface EntityShape {
  tenants: boolean;
  implicit: boolean;
}

function deny(
  ids: readonly string[],
  errors: string[],
  meta: Record<string, PolicyMeta>,
): Omit<Decision, 'cached'> {
  const policies = [...new Set(ids)].sort();
  const notices: string[] = [];
  for (const id of policies) {
    const notice = meta[id]?.notice;
    if (notice !== null && notice !== undefined && !notices.includes(notice)) notices.push(notice);
  }
  return { allowed: false, policies, notices, errors };
}

function resourceUid(schema: ParsedSchema, request: AuthzRequest): Cedar.EntityUid {
  const r = request.resource;
  return { type: r.type === 'User' ? schema.types.user : schema.types.tenant, id: r.id };
}

function entitiesOf(
  schema: ParsedSchema,
  request: AuthzRequest,
  shape: EntityShape,
): Cedar.EntityJson[] {
  const { principal, resource } = request;
  const out: Cedar.EntityJson[] = [];
  const tenants = new Set<string>([principal.tenantId]);
  // With a schema, Cedar reads `{type, id}` where an entity is declared (the implicit form) and
  // skips the `__entity` wrapper's escape handling.
  const ref = refMaker(shape);
  const user = (
    id: string,
    tenantId: string,
    roles: readonly string[],
    isOwner: boolean,
  ): Cedar.EntityJson => ({
    uid: { type: schema.types.user, id },
    attrs: {
      tenant: ref(schema.types.tenant, tenantId),
      roles: roles.map((r) => ref(schema.types.role, r)),
      isOwner,
    },
    parents: shape.tenants ? [{ type: schema.types.tenant, id: tenantId }] : [],
  });
  out.push(user(principal.id, principal.tenantId, principal.roles, principal.isOwner));
  if (resource.type === 'User') {
    const entity = user(resource.id, resource.tenantId, resource.roles, resource.isOwner);
    // The same user as principal and resource is one entity; if the two disagree Cedar refuses
    // the duplicate, which denies.
    if (resource.id !== principal.id || JSON.stringify(entity) !== JSON.stringify(out[0]))
      out.push(entity);
    tenants.add(resource.tenantId);
  } else {
    tenants.add(resource.id);
  }
  if (shape.tenants) {
    for (const id of tenants)
      out.push({ uid: { type: schema.types.tenant, id }, attrs: {}, parents: [] });
  }
  return out;
}

function refMaker(shape: EntityShape): (type: string, id: string) => Cedar.CedarValueJson {
  return shape.implicit ? (type, id) => ({ type, id }) : (type, id) => ({ __entity: { type, id } });
}

function contextJson(
  schema: ParsedSchema,
  action: string,
  context: AuthzContext,
  shape: EntityShape,
): Cedar.Context {
  const kinds = schema.entityAttributes[action] ?? {};
  const ref = refMaker(shape);
  const out: Cedar.Context = {};
  for (const [name, value] of Object.entries(context)) {
    const kind = kinds[name];
    if (kind?.kind === 'entitySet' && Array.isArray(value)) {
      out[name] = value.map((id: string) => ref(kind.type, id));
    } else if (kind?.kind === 'entity' && typeof value === 'string') {
      out[name] = ref(kind.type, value);
    } else {
      out[name] = Array.isArray(value)
        ? [...(value as readonly string[])]
        : (value as string | boolean);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors

function toProblems(errors: Cedar.DetailedError[], text: string): CedarProblem[] {
  return errors.map((e) => toProblem(e, text));
}

function toProblem(e: Cedar.DetailedError, text: string): CedarProblem {
  const location = e.sourceLocations?.[0];
  const label = location?.label;
  const message =
    label !== null && label !== undefined && label !== '' ? `${e.message}: ${label}` : e.message;
  const problem: CedarProblem = { message };
  if (e.help !== null && e.help !== '') problem.help = e.help;
  if (location !== undefined) problem.index = charIndexOfByte(text, location.start);
  return problem;
}

function shiftProblem(p: CedarProblem, by: number): CedarProblem {
  return p.index === undefined ? p : { ...p, index: p.index + by };
}

function formatError(e: Cedar.DetailedError): string {
  return e.help !== null && e.help !== '' ? `${e.message} (${e.help})` : e.message;
}

function joinMessages(errors: Cedar.DetailedError[]): string {
  return errors.map(formatError).join('; ');
}
