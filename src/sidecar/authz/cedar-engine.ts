/**
 * The one module that talks to Cedar (@cedar-policy/cedar-wasm). Everything else works on the
 * project's own types, so the engine can be swapped here alone.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

/** The names of the `Role` enum entity declared by a Cedar schema (any namespace). */
export function roleNamesFromSchema(schemaText: string): string[] {
  const answer = cedar.schemaToJson(schemaText);
  if (answer.type !== 'success') {
    const messages = answer.errors.map((e) => e.message).join('; ');
    throw new Error(`schema does not parse: ${messages}`);
  }
  for (const ns of Object.values(answer.json as Record<string, { entityTypes?: Record<string, { enum?: string[] }> }>)) {
    const role = ns.entityTypes?.['Role'];
    if (role?.enum !== undefined) return [...role.enum];
  }
  throw new Error('schema declares no `entity Role enum [...]`');
}
