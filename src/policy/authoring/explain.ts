/**
 * `policy explain`: one decision, told the way an author debugging a 403 wants it: the request
 * as the policies saw it (context included), the decision, the determining policies with where
 * they live and their notices, and any evaluation errors.
 */
import { join } from 'node:path';
import type { PolicyInfo } from '../policy-set.js';
import type { AuthzRequest, Decision } from '../types.js';

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
}

/** Builds the explanation of `decision` for `request` under the live set of `dir`. */
export function explainDecision(
  dir: string,
  snapshot: ExplainedSet,
  request: AuthzRequest,
  decision: Decision,
): Explanation {
  const byId = new Map(snapshot.policies.map((p) => [p.id, p]));
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
  };
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
