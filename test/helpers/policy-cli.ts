/**
 * The policy commands run through the compiled CLI, and the temp directories their tests write
 * policy sets into, removed after the test file.
 */
import { writePolicyFixture } from './policy-fixture.js';
import { runCli } from './process.js';
import { tempDirs, type TempDirs } from './temp-dirs.js';

/** `cedargate policy ...args`, to completion (`input` on its stdin when given). */
export const policyCli = (args: string[], env: Record<string, string> = {}, input?: string) =>
  runCli(['policy', ...args], env, input);

/** The last line of `text`. */
export const lastLine = (text: string): string | undefined => text.trimEnd().split('\n').pop();

/**
 * Temp directories for one test file, all removed after it (call it at the file's top level):
 * those of temp-dirs.ts, and the small two-file fixture of policy-fixture.ts.
 */
export function policyDirs(prefix = 'cedargate-cli-'): TempDirs & { fixture: () => string } {
  const dirs = tempDirs(prefix);
  return {
    ...dirs,
    fixture: (): string => {
      const dir = dirs.temp();
      writePolicyFixture(dir);
      return dir;
    },
  };
}
