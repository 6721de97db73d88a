/**
 * The outcome of one request: its metrics, and the decision log line (contract §8). The line is
 * built only when the log level lets it out, so a quiet sidecar pays nothing for it.
 */
import type { Logger } from '../common/logger.js';
import { UnauthenticatedError, toCedargateError } from '../errors.js';
import type { AuthzRequest, Decision } from '../policy/types.js';
import type { SidecarMetrics } from './metrics.js';
import type { UserRecord } from './user-facts.js';

/** What one request has established so far; logged as the decision line. */
export interface Exchange {
  /** The client's X-Request-ID (or, without a usable one, `requestUid`). */
  requestId: string;
  /** The server's own id of this request: unique even when clients reuse their ids. */
  requestUid?: string;
  startedAt: bigint;
  /** The X-Tenant-ID tenant. */
  tenantId?: string;
  /** The verified credential's tenant (differs from `tenantId` on a tenant_mismatch). */
  credentialTenantId?: string;
  principal?: UserRecord;
  action?: string;
  resource?: string;
  decision?: Decision;
  /**
   * What the decision read, exactly as the engine got it (ids, roles, the owner flag, the
   * context), and the version of the set that decided: `policy replay` decides it again.
   */
  decided?: { request: AuthzRequest; policyVersion: string };
  /**
   * `unread`: the target was not looked up, no policy of the set reading more of it than its id
   * and tenant (its roles and owner flag in `decided` are empty, not read): `policy replay` does
   * not decide such a line again against a set that reads them.
   */
  targetFacts?: 'unread';
  shadowDeny?: boolean;
  /** Gives the body's share of the budget back once the request is done with it. */
  releaseBody?: () => void;
}

/** Records a finished request: `err` is what it failed with, when it did. */
export type RecordOutcome = (ex: Exchange, status: number, err?: unknown) => void;

export function createDecisionLog(deps: {
  metrics: Pick<SidecarMetrics, 'observeRequest'>;
  logger: Pick<Logger, 'isLevelEnabled' | 'info'>;
}): RecordOutcome {
  const { metrics, logger } = deps;
  return (ex, status, err) => {
    const seconds = Number(process.hrtime.bigint() - ex.startedAt) / 1e9;
    const decision = decisionOf(ex);
    const action = ex.action ?? 'none';
    metrics.observeRequest(action, decision, status, seconds);
    if (!logger.isLevelEnabled('info')) return;
    const line: Record<string, unknown> = {
      request_id: ex.requestId,
      request_uid: ex.requestUid,
      tenant: ex.tenantId,
      credential_tenant: ex.credentialTenantId,
      principal: ex.principal?.user.id,
      action,
      resource: ex.resource,
      decision,
      policies: ex.decision?.policies,
      ignored_roles: ex.decision?.ignoredRoles,
      // Facts and ids only: the sidecar never puts a name, email, avatar or credential here.
      policy_version: ex.decided?.policyVersion,
      request: ex.decided?.request,
      target_facts: ex.targetFacts,
      status,
      latency_ms: Math.round(seconds * 1e6) / 1e3,
    };
    if (err !== undefined) Object.assign(line, errorFieldsOf(err));
    logger.info(line, 'decision');
  };
}

function decisionOf(ex: Exchange): 'none' | 'allow' | 'shadow_deny' | 'deny' {
  if (ex.decision === undefined) return 'none';
  if (ex.decision.allowed) return 'allow';
  return ex.shadowDeny === true ? 'shadow_deny' : 'deny';
}

/** The error's code; the real reason of a 401 (never told to the client); a 5xx's whole error. */
function errorFieldsOf(err: unknown): Record<string, unknown> {
  const e = toCedargateError(err);
  return {
    error: e.code,
    ...(e instanceof UnauthenticatedError && { reason: e.reason, category: e.category }),
    ...(e.status >= 500 && { err }),
  };
}
