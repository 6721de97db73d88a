/**
 * What `policy replay` reads is foreign input — any file a person points it at, or stdin — so
 * everything it holds is bounded before it is held (issue 22, Also): the bytes of one line
 * (readline would hold a line of gigabytes whole), the length of a request id, and the distinct
 * things the report keeps (classes, policy versions, refused roles). Past a limit the replay
 * stops with a {@link ReplayInputError} naming the line, which the CLI prints (exit 2). A line
 * nested to any depth is only a malformed line: JSON.parse does not recurse on the stack.
 * docs/contract.md (`policy replay`) states the limits.
 */

/** The limits, as documented. */
export const REPLAY_LIMITS = Object.freeze({
  /** Bytes of one log line (a sidecar's decision line is a few KiB). */
  lineBytes: 64 * 1024,
  /** Characters of a `request_id` or `request_uid` (the sidecar's own bound on X-Request-ID). */
  idChars: 128,
  /** Classes of changed answers in one report. */
  classes: 1000,
  /** Distinct `policy_version` values counted. */
  versions: 1000,
  /** Distinct roles the candidate's schema lacks, counted in `refused`. */
  refusedRoles: 1000,
});

/** The log goes past one of {@link REPLAY_LIMITS}: nothing more is read. */
export class ReplayInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayInputError';
  }
}

type CountedLimit = 'classes' | 'versions' | 'refusedRoles';

const PAST: Record<CountedLimit, (n: number) => string> = {
  classes: (n) =>
    `more than ${n} classes of changed answers (the most a replay reports): ` +
    'replay a part of the log, or a candidate closer to the logged set',
  versions: (n) =>
    `more than ${n} distinct policy_version values (the most a replay counts): is this a sidecar's log?`,
  refusedRoles: (n) =>
    `more than ${n} distinct roles the candidate's schema lacks (the most a replay counts): ` +
    'is this the candidate you meant?',
};

/** Throws when `held` things of the kind are already as many as its limit allows (at `line`). */
export function assertRoomFor(limit: CountedLimit, held: number, line: number): void {
  const n = REPLAY_LIMITS[limit];
  if (held >= n) throw new ReplayInputError(`line ${line}: ${PAST[limit](n)}`);
}

/** Why one of the named ids is refused (longer than the sidecar ever logs one), or null. */
export function tooLongId(ids: Record<string, string>): string | null {
  const n = REPLAY_LIMITS.idChars;
  for (const [name, id] of Object.entries(ids))
    if (id.length > n) return `${name} is longer than ${n} characters`;
  return null;
}

/**
 * Feeds every line of `input` to `onLine`, as readline does (`\n` or `\r\n` ends a line; a last
 * line without one counts), refusing a line longer than {@link REPLAY_LIMITS}.lineBytes as soon
 * as that many bytes of it have arrived, never holding more.
 */
export async function readLogLines(
  input: AsyncIterable<Buffer | string>,
  onLine: (line: string) => void,
): Promise<void> {
  const max = REPLAY_LIMITS.lineBytes;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let count = 0;
  const tooLong = (): never => {
    throw new ReplayInputError(
      `line ${count + 1} is longer than ${max} bytes (a decision line is a few KiB): is this a sidecar's log?`,
    );
  };
  const emit = (tail: Buffer): void => {
    const text = Buffer.concat([...held, tail]).toString('utf8');
    held = [];
    heldBytes = 0;
    count++;
    onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
  };
  for await (const chunk of input) {
    let rest = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let nl = rest.indexOf(0x0a); nl !== -1; nl = rest.indexOf(0x0a)) {
      if (heldBytes + nl > max) tooLong();
      emit(rest.subarray(0, nl));
      rest = rest.subarray(nl + 1);
    }
    if (heldBytes + rest.length > max) tooLong();
    if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes > 0) emit(Buffer.alloc(0));
}
