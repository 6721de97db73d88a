/**
 * Engines over policy sets for the differential tests: a loaded set compiled with options
 * `compileLoadedSet` does not take, the shipped `.cedar` texts as templates, and one engine (or
 * pair, or store) per drawn set kept for the whole test file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import {
  compilePolicySet,
  type CompiledPolicySet,
  type CompileOptions,
} from '../../src/policy/cedar-adapter.js';
import { loadPolicySet, type LoadedPolicySet } from '../../src/policy/policy-set.js';
import { shippedPolicies } from './process.js';
import { writePolicyDir } from './small-policies.js';

/** `compileLoadedSet` with compile options: the full call form, chunked preparsing. */
export function compileLoadedSetWith(
  slot: string,
  set: LoadedPolicySet,
  options: CompileOptions,
): CompiledPolicySet {
  const meta = Object.fromEntries(
    set.policies.map((p) => [p.id, { effect: p.effect, notice: p.notice }]),
  );
  return compilePolicySet(slot, set.schema, set.texts, meta, options);
}

/** The shipped `.cedar` files' texts by file name: templates the drawn sets start from. */
export function shippedPolicyTexts(): Record<string, string> {
  return Object.fromEntries(
    readdirSync(shippedPolicies)
      .filter((f) => f.endsWith('.cedar'))
      .map((f) => [f, readFileSync(join(shippedPolicies, f), 'utf8')]),
  );
}

/** What `build` gets for one drawn set. */
export interface DrawnSet {
  /** The set's policy directory (removed after the test file). */
  dir: string;
  set: LoadedPolicySet;
  /** A number of its own, for engine slot names. */
  n: number;
  /** Runs `cleanup` after the test file (a store to close). */
  defer: (cleanup: () => void) => void;
}

/**
 * One `T` per set of template files, built on first use and kept for the whole test file, so a
 * property test drawing sets from a small pool meets each set's engines (and their caches) again.
 * Each set is `schema` and the named files of `templates` in a temp directory. Call it at the
 * file's top level: what it made is removed after the file.
 */
export function perPolicySet<T>(
  prefix: string,
  schema: string,
  templates: Readonly<Record<string, string>>,
  build: (drawn: DrawnSet) => T | Promise<T>,
): (files: readonly string[]) => Promise<T> {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));
  const made = new Map<string, Promise<T>>();
  let slots = 0;
  return (files) => {
    const name = files.join(',');
    let p = made.get(name);
    if (p === undefined) {
      p = (async () => {
        const t = writePolicyDir(prefix, schema, files, templates);
        cleanups.push(t.remove);
        const set = await loadPolicySet(t.path);
        const defer = (c: () => void) => cleanups.push(c);
        return build({ dir: t.path, set, n: ++slots, defer });
      })();
      made.set(name, p);
    }
    return p;
  };
}
