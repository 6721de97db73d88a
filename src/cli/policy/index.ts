/**
 * `cedargate policy <subcommand>`: what a policy author runs before a change ships. DIR defaults
 * to $POLICY_DIR, then ./policies. Exit codes: 0 fine, 1 a problem found (for diff and replay: a
 * decision changes), 2 a wrong command line or bad input, 3 (diff --invariants) the candidate
 * breaks an invariant the base kept.
 *
 * {@link SUBCOMMANDS} is the one table: each subcommand's module declares its usage line and flags
 * beside its run, and `cedargate --help`, `cedargate policy --help`, `cedargate policy X --help`
 * and a wrong command line's error are all printed from it. A new subcommand is a module and a
 * line here.
 */
import { HelpRequested, subcommandError, subcommandsHelp, wantsHelp } from '../usage.js';
import type { SubcommandModule } from '../usage.js';
import * as check from './check.js';
import * as diff from './diff.js';
import * as explain from './explain.js';
import * as fmt from './fmt.js';
import * as replay from './replay.js';
import * as test from './test.js';
import * as validate from './validate.js';

/** The subcommands, in the order `--help` lists them. */
export const SUBCOMMANDS: Readonly<Record<string, SubcommandModule>> = {
  validate,
  test,
  fmt,
  explain,
  diff,
  replay,
  check,
};

/** Each subcommand's usage line, in table order. */
export function usageLines(): string[] {
  return Object.values(SUBCOMMANDS).map((s) => s.usage.line);
}

/** The one line `cedargate --help` gives the policy command. */
export function summary(): string {
  return `policy ${Object.keys(SUBCOMMANDS).join('|')} ...: check, test and compare policies`;
}

/** Entry point of `cedargate policy ...`. */
export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name !== undefined && wantsHelp([name])) {
    throw new HelpRequested(subcommandsHelp('policy', usageLines()));
  }
  // Own keys only: "toString" names no subcommand.
  const sub =
    name !== undefined && Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (sub === undefined) throw subcommandError(name, usageLines());
  return sub.run(rest);
}
