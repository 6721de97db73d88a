/**
 * `cedargate policy replay`: every request of a decision log decided again under the set in
 * `--against`. Exit 0 no answer changes, 1 some do (or the candidate's API would refuse one, or it
 * reads a target's facts a logged read was decided without), 2 bad input (a log that cannot be
 * read or holds no replayable decision, a set that does not load).
 */
import { createReadStream } from 'node:fs';
import { createLogger } from '../../common/logger.js';
import { createReplay, renderReplay } from '../../policy/authoring/replay.js';
import { readLogLines } from '../../policy/authoring/replay-input.js';
import { PolicyLoadError } from '../../policy/policy-set.js';
import { createPolicyStore } from '../../sidecar/authz/policy-store.js';
import type { PolicyStore } from '../../sidecar/authz/policy-store.js';
import { parseCommandLine, UsageError, type CommandUsage } from '../usage.js';
import { DECIDER_HELP, deciderLine, out, printProblems } from './output.js';

export const usage = {
  line: 'cedargate policy replay [LOGFILE|-] --against DIR [--json]',
  flags: {
    against: {
      type: 'string',
      value: 'DIR',
      help: 'the candidate policy directory to decide the logged requests under',
    },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  description: `Reads the decision log from LOGFILE, or stdin when it is - or not given.\n${DECIDER_HELP}`,
} satisfies CommandUsage;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, usage);
  if (positionals.length > 1)
    throw new UsageError(`expected at most one LOGFILE\nusage: ${usage.line}`);
  const dir = values.against;
  if (dir === undefined || dir === '')
    throw new UsageError(`missing --against DIR\nusage: ${usage.line}`);
  const source = positionals[0] ?? '-';
  const store = await openCandidate(dir);
  if (store === null) {
    out(`${dir}: the policies do not load`);
    return 2;
  }
  try {
    const { version, roles, targetReads } = store.current();
    const replay = createReplay({
      against: dir,
      candidateVersion: version,
      decide: (request) => store.decide(request),
      knownRoles: roles,
      // A read logged without its target's facts is replayed only where these do not read them.
      ...(targetReads !== undefined && { targetReads }),
    });
    const read = await readLines(source, (line) => replay.addLine(line));
    if (read !== null) {
      out(`${source}: ${read}`);
      return 2;
    }
    const report = replay.report();
    // The candidate is decided as the sidecar decides it: by the compiled decider when it compiles.
    const { engine, reason } = store.status().decider;
    const decider = { engine, reason };
    out(
      values.json === true
        ? JSON.stringify({ ...report, decider }, null, 2)
        : `${renderReplay(report, source)}${deciderLine(decider)}`,
    );
    if (report.replayed === 0) {
      out(`${source}: no replayable decision line (is the log written at LOG_LEVEL=info?)`);
      return 2;
    }
    // A request the candidate could not decide on what was logged is not a pass either.
    const undecided = report.refused.count + report.unread.count;
    return report.changed > 0 || undecided > 0 ? 1 : 0;
  } finally {
    store.close();
  }
}

/** The candidate as the sidecar would serve it, its decision cache on (a log repeats itself). */
async function openCandidate(dir: string): Promise<PolicyStore | null> {
  try {
    return await createPolicyStore({
      dir,
      logger: createLogger('silent'),
      watch: false,
      pollMs: 0,
    });
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printProblems(err.problems);
    return null;
  }
}

/** Feeds every line of `source` (`-`: stdin) to `onLine`; resolves to why it failed, or null. */
async function readLines(source: string, onLine: (line: string) => void): Promise<string | null> {
  const input = source === '-' ? process.stdin : createReadStream(source);
  const failed = new Promise<string>((resolve) =>
    input.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)),
  );
  // Bounded line by line (replay-input.ts): a log is whatever file a person points us at.
  const done = readLogLines(input, onLine).then(
    () => null,
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
  return Promise.race([done, failed]);
}
