/**
 * Policy sets for `policy check`'s tests: built in memory from policy texts over the shipped
 * schema's shape, compiled, and checked against an invariants text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInvariants } from '../../src/policy/authoring/invariants/check.js';
import type { CheckOptions, CheckReport } from '../../src/policy/authoring/invariants/check.js';
import { parseInvariants } from '../../src/policy/authoring/invariants/language.js';
import { buildPolicySet, compileLoadedSet } from '../../src/policy/policy-set.js';
import type { LoadedPolicySet } from '../../src/policy/policy-set.js';
import { schemaWithRoles } from './small-policies.js';
import { shippedPolicies } from './process.js';

let slots = 0;

/** A set of `policies` (one file) over a schema with `roles`. */
export function policySetOf(
  roles: readonly string[],
  policies: string,
  name = 'set',
): LoadedPolicySet {
  return buildPolicySet(name, {
    schema: { file: 'schema.cedarschema', text: schemaWithRoles(roles) },
    policies: [{ file: 'policies.cedar', text: policies }],
    version: name,
  });
}

/** The shipped policy files' texts, by file name. */
export function shippedPolicyTexts(): Record<string, string> {
  const files = ['admins.cedar', 'owner.cedar', 'self-service.cedar', 'tenancy.cedar'];
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(shippedPolicies, f), 'utf8')]));
}

/** The shipped set with its files' texts replaced as given. */
export function shippedSetWith(texts: Record<string, string>): LoadedPolicySet {
  return buildPolicySet('shipped', {
    schema: {
      file: 'schema.cedarschema',
      text: readFileSync(join(shippedPolicies, 'schema.cedarschema'), 'utf8'),
    },
    policies: Object.entries(texts).map(([file, text]) => ({ file, text })),
    version: 'shipped',
  });
}

/** Checks `invariants` (YAML text) against `set`, decided by its compiled form. */
export function checkSet(
  set: LoadedPolicySet,
  invariants: string,
  options: CheckOptions = {},
): CheckReport {
  const compiled = compileLoadedSet(`invariants-test-${++slots}`, set);
  const spec = parseInvariants('invariants.yaml', invariants, set.schema.roles);
  return checkInvariants(set, spec, (r) => compiled.authorize(r), options);
}
