/**
 * `cedargate policy validate`: the set loads against its schema, with warnings (a forbid without
 * a notice, a permit that can never apply). Exit 0 valid, 1 a problem (or, with --strict, a
 * warning), 2 a wrong command line.
 */
import { join } from 'node:path';
import {
  forbidsWithoutNotice,
  permitsThatNeverApply,
} from '../../policy/authoring/policy-warnings.js';
import { formatProblem, loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { LoadedPolicySet, PolicyProblem } from '../../policy/policy-set.js';
import { SCHEMA_FILE } from '../../policy/schema.js';
import { parseCommandLine, type CommandUsage } from '../usage.js';
import { out, plural, printProblems } from './output.js';
import { policyTargetOf } from './target.js';

export const usage = {
  line: 'cedargate policy validate [DIR|FILE.cedar] [--strict|--warnings-as-errors] [--quick|--thorough]',
  flags: {
    strict: { type: 'boolean', help: 'exit 1 on any warning' },
    'warnings-as-errors': { type: 'boolean', help: 'the same as --strict' },
    quick: { type: 'boolean', help: 'skip the permit reachability check (an editor save hook)' },
    thorough: {
      type: 'boolean',
      help: 'run the reachability check to the end, however many requests the roles plan',
    },
  },
} satisfies CommandUsage;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const target = await policyTargetOf(positionals, usage.line);
  let set;
  try {
    set = await loadPolicySet(target.dir, target.file ?? undefined);
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    out(`${plural(err.problems.length, 'problem')} in ${target.path}`);
    return 1;
  }
  const { warnings, checked } = warningsOf(set, values.quick === true, values.thorough === true);
  for (const w of warnings) out(`warning: ${formatProblem(w)}`);
  out(
    `ok: ${set.policies.length} policies in ${set.files.length} files valid against ${join(target.dir, SCHEMA_FILE)} ` +
      `(roles: ${set.schema.roles.join(', ')}; version ${set.version}; ${checked})`,
  );
  const strict = values.strict === true || values['warnings-as-errors'] === true;
  if (strict && warnings.length > 0) {
    out(`${plural(warnings.length, 'warning')}, failing (--strict)`);
    return 1;
  }
  return 0;
}

/** The set's warnings in file order, and what the reachability check looked at. */
function warningsOf(
  set: LoadedPolicySet,
  quick: boolean,
  thorough: boolean,
): { warnings: PolicyProblem[]; checked: string } {
  const warnings = [...set.warnings, ...forbidsWithoutNotice(set)];
  // The enumeration stops as soon as every permit has allowed a request, so a set without a dead
  // permit pays a fraction of a full enumeration; --quick skips it for an editor's save hook.
  // A large role enum plans millions of requests: the check stops at a budget unless --thorough.
  const reach = quick ? null : permitsThatNeverApply(set, thorough ? { budget: Infinity } : {});
  if (reach !== null) warnings.push(...reach.warnings);
  warnings.sort(byPosition);
  const checked =
    reach === null
      ? 'permits not checked for reachability (--quick)'
      : reach.unconfirmed !== undefined
        ? `permit reachability stopped at ${reach.decided} of ${reach.planned} planned requests; ` +
          `not yet seen to apply: ${reach.unconfirmed.join(', ')} (--thorough looks to the end)`
        : `permits checked against ${reach.decided} enumerated requests${reach.exhaustive ? '' : ' (not exhaustive)'}`;
  return { warnings, checked };
}

function byPosition(a: PolicyProblem, b: PolicyProblem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.column - b.column;
}
