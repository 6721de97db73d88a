/**
 * Command-line parsing shared by the commands: strict flags, clear usage errors, and `--help`.
 * Each command declares its flags next to itself, as the table it passes to {@link parseFlags}
 * (each flag with a `help` text), so `--help` lists exactly the flags that command parses and
 * a command that gains a flag documents it in the same line.
 */
import { statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A wrong command line: printed as one line plus the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Bad input that is not a wrong command line (a missing directory, ...): one line, exit 2. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** `--help` was asked for: `text` goes to stdout, exit code 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

/** One flag of a command: parseArgs' own fields, and the line `--help` prints for it. */
export type FlagSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  help?: string;
  /** The value's placeholder in `--help` (default VALUE); boolean flags take none. */
  value?: string;
};
type Options = Record<string, FlagSpec>;

/** Whether the command line asks for help (before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** The `--help` text of one command: its usage line and its flags table. */
export function helpText(usageLine: string, options: Options, description?: string): string {
  const rows: [string, string][] = Object.entries(options).map(([name, spec]) => [
    `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`,
    spec.help ?? '',
  ]);
  rows.push(['--help, -h', 'show this help and exit']);
  const width = Math.max(...rows.map(([f]) => f.length));
  const lines = [`usage: ${usageLine}`];
  if (description !== undefined) lines.push('', description);
  lines.push('', 'flags:', ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`.trimEnd()));
  return `${lines.join('\n')}\n`;
}

/** One line for parseArgs' errors, which can be long-winded about positionals. */
function shortMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^']*)'/.exec(e.message ?? '')?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined)
    return `unknown flag ${flag}`;
  return String(e.message ?? err);
}

/**
 * parseArgs with `--help` (HelpRequested with the command's help text) and its errors turned
 * into UsageError with the command's usage line and a pointer to `--help`.
 */
export function parseFlags<T extends Options>(
  args: string[],
  options: T,
  usageLine: string,
  allowPositionals = false,
  description?: string,
) {
  if (wantsHelp(args)) throw new HelpRequested(helpText(usageLine, options, description));
  // parseArgs checks its option objects: hand it only its own fields.
  const parsed = Object.fromEntries(
    Object.entries(options).map(([name, spec]) => {
      const { help: _help, value: _value, ...own } = spec;
      return [name, own];
    }),
  ) as T;
  try {
    return parseArgs({ args, options: parsed, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(`${shortMessage(err)}\nusage: ${usageLine}`);
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

/**
 * The help of a command made of subcommands (`tenant`, `policy`, `token`): each subcommand's
 * usage line, and where to ask for its flags.
 */
export function subcommandsHelp(command: string, usages: readonly string[]): string {
  return `usage:\n${usages.map((u) => `  ${u}`).join('\n')}\n\nrun "cedargate ${command} <subcommand> --help" for a subcommand's flags\n`;
}

/**
 * What a subcommand declares about itself, the one source of its `--help`, of its usage line in
 * a wrong command line's error, and of its line in the parent command's help.
 */
export interface CommandUsage {
  /** The whole usage line, `cedargate <command> <subcommand> ...`. */
  readonly line: string;
  readonly flags: Options;
  /** One sentence under the usage line in `--help`. */
  readonly description?: string;
}

/** A subcommand module: its {@link CommandUsage} and its run, which resolves with the exit code. */
export interface SubcommandModule {
  readonly usage: CommandUsage;
  run(args: string[]): Promise<number>;
}

/**
 * The UsageError of a command line that names no subcommand of `command`, or one it does not
 * have: what it got, then every subcommand's usage line.
 */
export function subcommandError(name: string | undefined, usages: readonly string[]): UsageError {
  const what = name === undefined ? 'missing subcommand' : `unknown subcommand "${name}"`;
  return new UsageError(`${what}\nusage: ${usages.join('\n       ')}`);
}

/** {@link parseFlags} for a subcommand: its flags and usage line from its {@link CommandUsage}. */
export function parseCommandLine<T extends CommandUsage>(args: string[], usage: T) {
  return parseFlags(args, usage.flags as T['flags'], usage.line, true, usage.description);
}

/** `dir` as a directory, or an InputError that says what it is instead. */
export function assertDirectory(dir: string, what: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new InputError(`${what} "${dir}" does not exist`);
  }
  if (!isDir) throw new InputError(`${what} "${dir}" is a file, not a directory`);
}
