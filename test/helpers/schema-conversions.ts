/**
 * Counts Cedar's conversions of schema text to JSON in this thread (issue 24 item 3: the schema
 * is converted once, by schema.ts's `parseSchema`, and every module reads what it kept).
 */
import { createRequire } from 'node:module';
import { mock } from 'node:test';
// Imported for its side effect first: the adapter loads the Cedar instance every call goes
// through, and the require below must find that same instance in the module cache.
import { engineGeneration } from '../../src/policy/cedar-adapter.js';

const CONVERSIONS = ['schemaToJson', 'schemaToJsonWithResolvedTypes'] as const;

/** From now on, counts the calls into Cedar that turn schema text into JSON; `restore` stops. */
export function countSchemaConversions(): { count: () => number; restore: () => void } {
  void engineGeneration();
  const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Record<
    (typeof CONVERSIONS)[number],
    (...args: unknown[]) => unknown
  >;
  const mocks = CONVERSIONS.map((name) => mock.method(cedar, name));
  return {
    count: () => mocks.reduce((n, m) => n + m.mock.callCount(), 0),
    restore: () => mocks.forEach((m) => m.mock.restore()),
  };
}
