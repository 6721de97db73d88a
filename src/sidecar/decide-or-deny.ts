/**
 * The one decide-or-deny step of the data port: a request (decide-and-forward.ts) and a
 * permissions answer's own gate (permissions.ts) are decided here, the same way — the question
 * asked by policy/question.ts, an uncached decision in its tenant's turn, counted in
 * `cedargate_decisions_total`, told to the candidate set in shadow, recorded for the decision
 * log (and so for `policy replay`), and refused with the same 403 when denied and enforced.
 *
 * The exchange (decision-log.ts) is only written here, never read back: what the caller acts on
 * is the returned {@link Outcome}.
 */
import type { NewUser, UserPatch } from '../common/user.js';
import { DEFAULT_DENY_NOTICE } from '../config.js';
import { ForbiddenError } from '../errors.js';
import { requestOfQuestion } from '../policy/question.js';
import type { AuthzRequest, Decision, UsersAction } from '../policy/types.js';
import type { DecisionSource } from './authz/decision-cache.js';
import type { AskedDecision, PolicyStore } from './authz/policy-store.js';
import type { Exchange } from './decision-log.js';
import type { FairGate } from './fair-gate.js';
import type { RequestRecorders } from './metrics.js';
import type { UserFacts, UserRecord } from './user-facts.js';

/** What the step needs of the sidecar. */
export interface DecideDeps {
  policies: PolicyStore;
  metrics: Pick<RequestRecorders, 'countDecision'>;
  enforce: boolean;
  /** The notice of a deny no policy decided (DEFAULT_DENY_NOTICE); its default when unset. */
  defaultDenyNotice?: string | undefined;
  /** An uncached decision waits here for its tenant's turn (fair-gate.ts). */
  fair?: Pick<FairGate, 'run'> | undefined;
  /**
   * Told about every decision, after it is made and before it is acted on; must return at once
   * and never throw (the candidate set in shadow queues the request here).
   */
  onDecided?: ((decided: Decided) => void) | undefined;
}

/** One decision as the candidate set in shadow gets it. */
export interface Decided {
  requestId: string;
  request: AuthzRequest;
  decision: Decision;
  policyVersion: string;
}

/** One request's question, with where its outcome is recorded. */
export interface Ask {
  ex: Exchange;
  action: UsersAction;
  tenantId: string;
  principal: UserFacts;
  target: UserRecord | undefined;
  input: NewUser | UserPatch | undefined;
  /** Which decision cache answers it and how it is counted: `request` or `permissions`. */
  source: DecisionSource;
  /**
   * The write screen asked Cedar for this very question: the answer now found in the cache is
   * still counted as the miss it cost.
   */
  screenMissed?: boolean;
}

/** What the caller acts on: the decision, and whether it is a denial let through (shadow). */
export interface Outcome {
  decision: Decision;
  shadowDeny: boolean;
}

/**
 * Decides, counts and records `ask`; throws the 403 when it denies and is enforced. `asked` is
 * `ask`'s own question already put to the store (the write screen's, asked again on the very
 * same facts); without it the question is built from `ask`.
 */
export async function decideOrDeny(
  deps: DecideDeps,
  ask: Ask,
  asked?: AskedDecision,
): Promise<Outcome> {
  const { ex } = ask;
  const question = asked ?? deps.policies.ask(requestOfAsk(ask), ask.source);
  const { request } = question;
  const { policyVersion, decision } = await decideAsked(deps, ask.tenantId, question, ask.source);
  ex.decision = decision;
  ex.decided = { request, policyVersion };
  deps.onDecided?.({ requestId: ex.requestId, request, decision, policyVersion });
  const shadowDeny = !decision.allowed && !deps.enforce;
  ex.shadowDeny = shadowDeny;
  const result = decision.allowed ? 'allow' : deps.enforce ? 'deny' : 'shadow_deny';
  const cached = decision.cached && ask.screenMissed !== true;
  deps.metrics.countDecision(ask.action, result, cached, ask.source);
  if (!decision.allowed && deps.enforce)
    throw deniedError(ask.action, decision, deps.defaultDenyNotice);
  return { decision, shadowDeny };
}

/** The Cedar request of `ask`, asked by the one question module. */
export function requestOfAsk(
  ask: Pick<Ask, 'action' | 'tenantId' | 'principal' | 'target' | 'input'>,
): AuthzRequest {
  return requestOfQuestion({
    action: ask.action,
    tenantId: ask.tenantId,
    principal: ask.principal,
    target: ask.target?.user,
    input: ask.input,
  });
}

/** A cached decision at once; an uncached one in its tenant's turn (when there is a gate). */
export function decideFairly(
  deps: Pick<DecideDeps, 'policies' | 'fair'>,
  tenantId: string,
  request: AuthzRequest,
  source: DecisionSource,
): Promise<{ policyVersion: string; decision: Decision }> {
  return decideAsked(deps, tenantId, deps.policies.ask(request, source), source);
}

/** {@link decideFairly} for a request already put to the store (its keys built once). */
export async function decideAsked(
  { policies, fair }: Pick<DecideDeps, 'policies' | 'fair'>,
  tenantId: string,
  asked: AskedDecision,
  source: DecisionSource,
): Promise<{ policyVersion: string; decision: Decision }> {
  if (asked.hit !== undefined) return { policyVersion: asked.policyVersion, decision: asked.hit };
  // decide() reads the live set in the same synchronous step as it decides: no reload can swap
  // the set in between.
  if (fair === undefined) return asked.decide();
  // Concurrent requests that ask the same question share one turn: a burst of identical writes
  // (a client's retries, a flood of the same denied PUT) costs one decision and one queue place,
  // not one each, and never fills its tenant's queue with copies.
  let pending = inFlightDecisions.get(policies);
  if (pending === undefined) {
    pending = new Map<string, Promise<{ policyVersion: string; decision: Decision }>>();
    inFlightDecisions.set(policies, pending);
  }
  // Each source has its own cache: a turn fills one of them, so it is shared within one.
  const key = `${source}\n${asked.key()}`;
  const shared = pending.get(key);
  if (shared !== undefined) return shared;
  const turn = fair.run(tenantId, 1, () => asked.decide()).finally(() => pending.delete(key));
  pending.set(key, turn);
  return turn;
}

/** Uncached decisions waiting for their turn, per policy store, by source and decision key. */
const inFlightDecisions = new WeakMap<
  PolicyStore,
  Map<string, Promise<{ policyVersion: string; decision: Decision }>>
>();

/**
 * What a denial tells its sender, in a 403 and in a permissions answer alike: the determining
 * policies' notices and the policies. One place, so both say the same. A deny no policy decided
 * (no permit matched) says so in `defaultNotice`'s generic words: an empty list told the caller
 * nothing, and naming the permits that did not match would tell it the policy's text.
 */
export function denialOf(
  decision: Pick<Decision, 'policies' | 'notices'>,
  defaultNotice = DEFAULT_DENY_NOTICE,
): { notices: string[]; policies: string[] } {
  const notices = decision.policies.length === 0 ? [defaultNotice] : decision.notices;
  return { notices, policies: decision.policies };
}

/** The 403 a denied request answers: its notices, the policies and the action. */
export function deniedError(
  action: UsersAction,
  decision: Decision,
  defaultNotice?: string,
): ForbiddenError {
  const { notices, policies } = denialOf(decision, defaultNotice);
  return new ForbiddenError(`the policies deny ${action}`, {
    notices,
    details: {
      policies,
      action,
      ...(decision.ignoredRoles !== undefined && { ignored_roles: decision.ignoredRoles }),
    },
  });
}
