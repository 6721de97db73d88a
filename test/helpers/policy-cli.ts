/**
 * The policy commands run through the compiled CLI, and the temp directories their tests write
 * policy sets into, removed after the test file.
 */
import { cpSync } from 'node:fs';
import { after } from 'node:test';
import { writePolicyFixture } from './policy-fixture.js';
import { runCli, shippedPolicies, tempDir } from './process.js';

/** `cedargate policy ...args`, to completion. */
export const policyCli = (args: string[], env: Record<string, string> = {}) =>
  runCli(['policy', ...args], env);

/** The last line of `text`. */
export const lastLine = (text: string): string | undefined => text.trimEnd().split('\n').pop();

/** Temp directories for one test file, all removed after it: call it at the file's top level. */
export function policyDirs(prefix = 'cedargate-cli-') {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));
  const temp = (): string => {
    const t = tempDir(prefix);
    cleanups.push(t.remove);
    return t.path;
  };
  return {
    /** An empty directory. */
    temp,
    /** A copy of the shipped policies (schema, policies, tests). */
    copyOfShipped: (): string => {
      const dir = temp();
      cpSync(shippedPolicies, dir, { recursive: true });
      return dir;
    },
    /** The small two-file fixture of test/helpers/policy-fixture.ts. */
    fixture: (): string => {
      const dir = temp();
      writePolicyFixture(dir);
      return dir;
    },
  };
}
