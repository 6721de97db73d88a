/** Command-line parsing shared by the commands: strict flags, clear usage errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A wrong command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs that turns its errors into UsageError with the command's usage line appended. */
export function parseFlags<T extends Options>(
  args: string[],
  options: T,
  usageLine: string,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(
      `${err instanceof Error ? err.message : String(err)}\nusage: ${usageLine}`,
    );
  }
}

/** {@link parseFlags} for a command that takes flags only: an argument is a UsageError naming it. */
export function parseFlagsOnly<T extends Options>(args: string[], options: T, usageLine: string) {
  const { values, positionals } = parseFlags(args, options, usageLine, true);
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usageLine}`);
  }
  return values;
}

/** A required string flag, or a UsageError naming it. */
export function required(
  value: string | boolean | undefined,
  flag: string,
  usageLine: string,
): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new UsageError(`missing --${flag}\nusage: ${usageLine}`);
  }
  return value;
}
