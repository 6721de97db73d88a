/**
 * Where a policy command finds its policies: the one path it was given (else $POLICY_DIR, then
 * ./policies) — a directory, a `.cedar` file with the schema next to it, or a test file spec —
 * and the set there, loaded and compiled as the sidecar's store does.
 */
import { statSync } from 'node:fs';
import { loadPolicyCliConfig } from '../../config.js';
import { splitTestSpec } from '../../policy/authoring/test-suite.js';
import { compileLoadedSet, loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import { resolvePolicyTarget, PolicyTargetError } from '../../policy/policy-target.js';
import type { PolicyTarget } from '../../policy/policy-target.js';
import { assertDirectory, UsageError } from '../usage.js';
import { printProblems } from './output.js';

/**
 * The one path a policy command was given (else $POLICY_DIR, then ./policies): a directory, a
 * `.cedar` file, or a test file spec (`FILE.yaml[:CASE]`, which `policy test` checks itself).
 * Anything else — a path that is not there, some other file — is one line, exit 2.
 */
export function policyPathOf(positionals: string[], usageLine: string): string {
  if (positionals.length > 1) throw new UsageError(`expected at most one DIR\nusage: ${usageLine}`);
  const path = positionals[0] ?? loadPolicyCliConfig().policyDir;
  if (splitTestSpec(path) !== null || isCedarFile(path)) return path;
  assertDirectory(path, 'policy directory');
  return path;
}

/** Whether `path` is an existing file named `*.cedar`. */
export function isCedarFile(path: string): boolean {
  if (!path.endsWith('.cedar')) return false;
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The policy directory or `.cedar` file a command was given (else $POLICY_DIR, then ./policies);
 * a path that is neither is a wrong command line, said in one line.
 */
export async function policyTargetOf(
  positionals: string[],
  usageLine: string,
  options: { needsSchema?: boolean } = {},
): Promise<PolicyTarget> {
  const path = policyPathOf(positionals, usageLine);
  try {
    return await resolvePolicyTarget(path, options);
  } catch (err) {
    if (err instanceof PolicyTargetError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Loads and compiles the set of `target` as the sidecar's store does (the same loader, the same
 * engine; no cache, no watcher); when it does not load, prints its problems and gives null.
 */
export async function openSet(target: PolicyTarget) {
  try {
    const set = await loadPolicySet(target.dir, target.file ?? undefined);
    return { set, compiled: compileLoadedSet(`policy-cli-${process.pid}`, set) };
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    return null;
  }
}
