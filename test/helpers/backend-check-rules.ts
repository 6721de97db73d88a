/** The rules `cedargate backend-check` runs, in the order it reports them (docs/backend-contract.md). */
export const BACKEND_CHECK_RULES: readonly string[] = [
  'health',
  'trust-required',
  'user-shape',
  'strong-etag',
  'unknown-user-404',
  'tenant-scoped',
  'list-shape',
  'create',
  'update',
  'etag-stable',
  'if-match-412',
  'delete-if-match',
];
