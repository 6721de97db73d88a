/**
 * The names of the headers cedargate reads or sets, defined once: the sidecar sets them, the
 * backend reads them, and both must spell them alike. Lower-case, as node presents them.
 */

/** The tenant the request is for (contract §2); the sidecar forwards the verified one. */
export const TENANT_HEADER = 'x-tenant-id';
/** Correlates a request across the sidecar, the backend and their logs. */
export const REQUEST_ID_HEADER = 'x-request-id';
/** The secret that proves to the backend a request came through the sidecar. */
export const TRUST_HEADER = 'x-cedargate-trust';
/** The acting user's id, set by the sidecar; logged by the backend, never trusted for decisions. */
export const SUBJECT_HEADER = 'x-cedargate-subject';
/** Set to `deny` on a response the policy denied but shadow mode forwarded. */
export const DECISION_HEADER = 'x-cedargate-decision';
