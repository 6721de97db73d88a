/** Roles come from one place: the `Role` enum of POLICY_DIR/schema.cedarschema. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { roleNamesFromSchema } from './cedar-adapter.js';

export const SCHEMA_FILE = 'schema.cedarschema';

/** Reads the allowed role names from the schema in `policyDir`; throws naming the file. */
export function readAllowedRoles(policyDir: string): string[] {
  const path = join(policyDir, SCHEMA_FILE);
  try {
    return roleNamesFromSchema(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
