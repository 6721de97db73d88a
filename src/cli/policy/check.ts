/**
 * `cedargate policy check [DIR] --invariants FILE.yaml [--users N] [--json]`: every state a tenant
 * of N users can reach by requests the set allows, and whether the invariants hold in all of them
 * (docs/policies.md, "Invariants"). Exit 0 every invariant holds, 1 a counterexample for some,
 * 2 bad input (a wrong command line, an invariants file that does not read — file:line —, a
 * set that does not load, a schema the states cannot model).
 */
import { renderCheck } from '../../policy/authoring/invariants/render.js';
import { parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { checkTimed, parseFor, readInvariants, usersFlag, usersOf } from './invariants.js';
import { DECIDER_HELP, deciderLine, deciderReportOf, out } from './output.js';
import { openSet, policyTargetOf } from './target.js';

export const usage = {
  line: 'cedargate policy check [DIR] --invariants FILE.yaml [--users N] [--json]',
  flags: {
    invariants: {
      type: 'string',
      value: 'FILE.yaml',
      help: "the invariants to check (policies/invariants.yaml is the shipped set's)",
    },
    users: usersFlag,
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  description: DECIDER_HELP,
} satisfies CommandUsage;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  const fail = (message: string): never => {
    throw new UsageError(`${message}\nusage: ${usage.line}`);
  };
  const file = values.invariants ?? fail('--invariants FILE.yaml is required');
  const users = usersOf(values.users, fail);
  const target = await policyTargetOf(positionals, usage.line);
  const opened = await openSet(target);
  if (opened === null) {
    out(`the policies do not load; no invariant was checked`);
    return 2;
  }
  const { set, compiled } = opened;
  const spec = parseFor(file, await readInvariants(file), set);
  const { report, ms } = checkTimed(set, spec, users, (r) => compiled.authorize(r));
  const decider = deciderReportOf(compiled);
  out(
    values.json === true
      ? JSON.stringify({ ...report, ms: Math.round(ms), decider }, null, 2)
      : `${renderCheck(report, ms)}${deciderLine(decider, opened.compiled.stats)}`,
  );
  return report.invariants.every((i) => i.holds) ? 0 : 1;
}
