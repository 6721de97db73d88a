/**
 * A validated policy set decided by Cedar (wasm): what compiling it preparses, in which slots,
 * and how one request becomes one call per chunk of its action's slice, the answers combined as
 * one call over the whole set would answer. The calls themselves go through the {@link
 * CedarEngine} cedar-adapter.ts hands in (the one module that imports Cedar).
 */
import type { CallShape } from './call-shape.js';
import { formatError, type CedarError } from './cedar-problems.js';
import { cedarRequestOf, type CedarRequestJson, type EntityShape } from './cedar-request.js';
import { decisionOf, deny, type PolicyError, type PolicyMeta } from './decision-combine.js';
import { leaveOutUnknownRoles } from './known-roles.js';
import type { AuthzRequest, Decision, ParsedSchema } from './types.js';

/** A validated policy set, preparsed inside Cedar and ready to answer requests. */
export interface CompiledPolicySet {
  /** Decides one request. Never throws: anything unexpected is a deny with an error. */
  authorize(request: AuthzRequest): Omit<Decision, 'cached'>;
  /** The fitted call shape (call-shape.ts), or null when compiled in the full form. */
  readonly callShape: CallShape | null;
}

/** Options of `compilePolicySet` (cedar-adapter.ts). */
export interface CompileOptions {
  /**
   * `fitted` (the default): implicit entity references, a preparsed slice of the set per action,
   * and no tenant entities or parents where call-shape.ts finds no policy can tell. `full`: every
   * entity, `__entity` references and the whole set on every call (the reference the fitted
   * form is tested against).
   */
  form?: 'fitted' | 'full';
  /**
   * The fitted call shape when the caller has it (`callShapeFor`, in a worker): finding it
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

/** Cedar's answer to one call, in the fields read here. */
export type CedarAnswer =
  | { type: 'failure'; errors: CedarError[] }
  | {
      type: 'success';
      response: {
        decision: 'allow' | 'deny';
        diagnostics: { reason: string[]; errors: { policyId: string; error: CedarError }[] };
      };
    };

/** The calls into Cedar a compiled set makes; each throws on failure. */
export interface CedarEngine {
  preparseSchema(slot: string, schemaText: string): void;
  preparsePolicySet(slot: string, policies: Record<string, string>): void;
  isAuthorized(call: CedarRequestJson & { schemaSlot: string; setSlot: string }): CedarAnswer;
  /** Changes when the instance was replaced: what was preparsed is gone. */
  generation(): number;
}

/** What compiling a set prepares in Cedar: each step one preparse, in order. */
export interface CompilePlan {
  /** The schema's slot. */
  slot: string;
  steps: (() => void)[];
  callShape: CallShape | null;
  /** Per action, the slots of its slice's chunks (at least one, maybe empty). */
  sliceSlots: Record<string, string[]>;
}

/** The preparses of `policies` under `slot`, as `options` shape them. */
export function planCompile(
  engine: CedarEngine,
  slot: string,
  schema: ParsedSchema,
  policies: Record<string, string>,
  callShape: CallShape | null,
  chunkSize: number,
): CompilePlan {
  const steps: (() => void)[] = [() => engine.preparseSchema(slot, schema.text)];
  const slotsOf = (name: string, ids: readonly string[]): string[] => {
    const out: string[] = [];
    for (let k = 0; k === 0 || k * chunkSize < ids.length; k++) {
      const chunkSlot = `${slot}#${name}#${k}`;
      const chunk = ids.slice(k * chunkSize, (k + 1) * chunkSize);
      steps.push(() =>
        engine.preparsePolicySet(
          chunkSlot,
          Object.fromEntries(chunk.map((id) => [id, policies[id] ?? ''])),
        ),
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

/** The compiled set of a plan whose steps have run. */
export function compiledFrom(
  engine: CedarEngine,
  plan: CompilePlan,
  schema: ParsedSchema,
  meta: Record<string, PolicyMeta>,
): CompiledPolicySet {
  const { callShape, sliceSlots } = plan;
  // The instance the plan's slots live in: after a trap they are preparsed again in the new one.
  let generation = engine.generation();
  const ensurePrepared = (): void => {
    if (generation === engine.generation()) return;
    generation = engine.generation();
    for (const step of plan.steps) step();
  };
  const shape: EntityShape = {
    tenants: callShape?.tenantEntities ?? true,
    implicit: callShape !== null,
  };
  const roleAttributes = roleAttributesOf(schema);

  const decide = (request: AuthzRequest): Omit<Decision, 'cached'> => {
    const slots = sliceSlots[request.action];
    if (slots === undefined)
      return deny([], [`action "${request.action}" is not in the schema`], meta);
    const call = { ...cedarRequestOf(schema, request, shape), schemaSlot: plan.slot };
    const answers: CedarAnswer[] = [];
    try {
      ensurePrepared();
      for (const setSlot of slots) answers.push(engine.isAuthorized({ ...call, setSlot }));
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
      if (generation !== engine.generation()) decision = decide(known.request);
      return known.ignoredRoles.length === 0
        ? decision
        : { ...decision, ignoredRoles: known.ignoredRoles };
    },
  };
}

/** Per action, the context attributes that are sets of roles: they carry stored roles too. */
export function roleAttributesOf(schema: ParsedSchema): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [action, attributes] of Object.entries(schema.entityAttributes)) {
    out[action] = Object.entries(attributes)
      .filter(([, kind]) => kind.kind === 'entitySet' && kind.type === schema.types.role)
      .map(([name]) => name);
  }
  return out;
}

/**
 * One decision from the answers of a slice's chunks, as one Cedar call over the whole slice
 * answers (decision-combine.ts); a failure (an undeclared role, a context the schema does not
 * declare, ...) never allows.
 */
function combine(
  answers: readonly CedarAnswer[],
  meta: Record<string, PolicyMeta>,
): Omit<Decision, 'cached'> {
  const forbids: string[] = [];
  const permits: string[] = [];
  const erred: PolicyError[] = [];
  for (const answer of answers) {
    if (answer.type !== 'success') return deny([], answer.errors.map(formatError), meta);
    const { decision, diagnostics } = answer.response;
    (decision === 'allow' ? permits : forbids).push(...diagnostics.reason);
    for (const e of diagnostics.errors)
      erred.push({ policyId: e.policyId, error: formatError(e.error) });
  }
  return decisionOf(forbids, permits, erred, meta);
}
