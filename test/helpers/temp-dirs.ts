/**
 * Temporary directories for one test file, all removed after it: an empty one, or a copy of the
 * shipped policies to edit. Call {@link tempDirs} at the file's (or a describe's) top level.
 */
import { cpSync } from 'node:fs';
import { after } from 'node:test';
import { shippedPolicies, tempDir } from './process.js';

export interface TempDirs {
  /** An empty directory. */
  temp: () => string;
  /** A copy of the shipped policies (schema, policies, tests). */
  copyOfShipped: () => string;
}

/** Directories named `prefix…`, removed after the enclosing file or suite. */
export function tempDirs(prefix = 'cedargate-test-'): TempDirs {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));
  const temp = (): string => {
    const t = tempDir(prefix);
    cleanups.push(t.remove);
    return t.path;
  };
  return {
    temp,
    copyOfShipped: () => {
      const dir = temp();
      cpSync(shippedPolicies, dir, { recursive: true });
      return dir;
    },
  };
}
