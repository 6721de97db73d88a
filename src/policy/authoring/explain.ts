/**
 * `policy explain`: one decision, told the way an author debugging a 403 wants it: the request
 * as the policies saw it (context included), the decision, the determining policies with where
 * they live and their notices, and any evaluation errors. A default deny (no policy decided) names
 * instead the permits whose scope matched and, for each, the first condition that was not met
 * (clauses.ts): the one question Cedar's answer leaves open is which permit was meant to hold.
 */
import { join } from 'node:path';
import type { PolicyInfo } from '../policy-set.js';
import type { AuthzRequest, Decision } from '../types.js';
import type { ClauseTrace, ClauseTracer } from './clauses.js';

/**
 * What an explanation needs of the live set: its version and where each policy lives. The
 * sidecar's policy snapshot is one; naming only this keeps the policy domain below the sidecar.
 */
export interface ExplainedSet {
  version: string;
  policies: readonly PolicyInfo[];
}

/** One determining policy, located. */
export interface DeterminingPolicy {
  id: string;
  effect: 'permit' | 'forbid' | 'unknown';
  /** `file:line`, the file joined to the policy directory. */
  location: string | null;
  notice: string | null;
}

/** The explanation of one decision, as data (printed as JSON by `--json`). */
export interface Explanation {
  version: string;
  request: AuthzRequest;
  decision: 'allow' | 'deny';
  policies: DeterminingPolicy[];
  notices: string[];
  errors: string[];
  /**
   * Of a default deny (denied, no determining policy), the permits whose scope matched, in the
   * set's (file, line) order; absent otherwise.
   */
  unmet?: UnmetPermit[];
  /** Of a default deny, the permits the clause analysis cannot read, each with why. */
  unanalysed?: string[];
}

/** A permit whose scope matched a default-denied request, and what stopped it. */
export interface UnmetPermit {
  id: string;
  /** `file:line` of the policy. */
  location: string;
  /**
   * Its first clause not met: `failed` (a `when` false, an `unless` true) or `unknown` (Cedar
   * errs on it, or the analysis cannot tell); null when the analysis finds every clause held.
   */
  condition: ClauseTrace | null;
}

/** Builds the explanation of `decision` for `request` under the live set of `dir`. */
export function explainDecision(
  dir: string,
  snapshot: ExplainedSet,
  request: AuthzRequest,
  decision: Decision,
  tracer?: Pick<ClauseTracer, 'trace' | 'unanalysed'>,
): Explanation {
  const byId = new Map(snapshot.policies.map((p) => [p.id, p]));
  const defaultDeny = !decision.allowed && decision.policies.length === 0;
  return {
    version: snapshot.version,
    request,
    decision: decision.allowed ? 'allow' : 'deny',
    policies: decision.policies.map((id) => {
      const p = byId.get(id);
      return {
        id,
        effect: p?.effect ?? 'unknown',
        location: p === undefined ? null : `${join(dir, p.file)}:${p.line}`,
        notice: p?.notice ?? null,
      };
    }),
    notices: decision.notices,
    errors: decision.errors,
    ...(defaultDeny && tracer !== undefined && unmetOf(tracer, request)),
  };
}

/** The permits whose scope matched `request`, each with its first clause not met. */
function unmetOf(
  tracer: Pick<ClauseTracer, 'trace' | 'unanalysed'>,
  request: AuthzRequest,
): Pick<Explanation, 'unmet' | 'unanalysed'> {
  const unmet = tracer
    .trace(request)
    .filter((t) => t.effect === 'permit' && t.scope === true)
    .map((t) => ({
      id: t.id,
      location: t.location,
      condition: t.clauses.find((c) => c.outcome === 'failed' || c.outcome === 'unknown') ?? null,
    }));
  return { unmet, unanalysed: [...tracer.unanalysed.values()] };
}

/** The explanation as lines of text. */
export function renderExplanation(e: Explanation): string {
  const r = e.request;
  const resource =
    r.resource.type === 'User' ? `User "${r.resource.id}"` : `Tenant "${r.resource.id}"`;
  const facts = (x: { tenantId: string; roles: readonly string[]; isOwner: boolean }) =>
    `tenant ${x.tenantId}, roles [${x.roles.join(', ')}]${x.isOwner ? ', owner' : ''}`;
  const lines = [
    `request:   User "${r.principal.id}" (${facts(r.principal)})`,
    `           ${r.action} on ${resource}${r.resource.type === 'User' ? ` (${facts(r.resource)})` : ''}`,
    `context:   ${JSON.stringify(r.context)}`,
    `policies:  version ${e.version}`,
    `decision:  ${e.decision.toUpperCase()}`,
  ];
  if (e.policies.length === 0) {
    lines.push(
      e.decision === 'deny'
        ? 'because:   no policy permits this request (default deny)'
        : 'because:   -',
    );
    lines.push(...unmetLines(e));
  } else {
    lines.push('because:');
    for (const p of e.policies) {
      lines.push(`  ${p.effect.padEnd(6)} ${p.id}  ${p.location ?? '(location unknown)'}`);
      if (p.notice !== null && e.decision === 'deny') lines.push(`         notice: ${p.notice}`);
    }
  }
  lines.push(e.errors.length === 0 ? 'errors:    none' : 'errors:');
  for (const err of e.errors) lines.push(`  ${err}`);
  return lines.join('\n') + '\n';
}

/** A default deny's permits whose scope matched, each with the condition not met. */
function unmetLines(e: Explanation): string[] {
  if (e.unmet === undefined) return [];
  const lines = [
    e.unmet.length === 0
      ? "no permit matched the request's principal, action and resource"
      : 'permits whose scope matched, and the condition that was false:',
  ];
  for (const p of e.unmet) {
    lines.push(`  permit ${p.id}  ${p.location}`);
    const c = p.condition;
    if (c === null) lines.push('         (every condition held by the analysis: see errors)');
    else lines.push(`         ${c.kind} ${c.location} ${clauseVerdict(c)}: ${atomsText(c)}`);
  }
  for (const why of e.unanalysed ?? []) lines.push(`  not analysed: ${why}`);
  return lines;
}

function clauseVerdict(c: ClauseTrace): string {
  if (c.outcome === 'unknown') return 'could not be told';
  return c.kind === 'when' ? 'was false' : 'was true';
}

/** Each atom Cedar reached, with its value (`error` where it errs). */
function atomsText(c: ClauseTrace): string {
  const reached = c.atoms.filter((a) => a.value !== undefined);
  return reached.map((a) => `${a.text} → ${a.value === null ? 'error' : a.value}`).join(', ');
}
