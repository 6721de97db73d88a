/**
 * `bin/cedargate <command>`: dispatches to one module per command. Each module exports
 * `run(args)` and resolves with the exit code; long-running commands resolve when they stop.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';
import { keepConsoleOffStdout } from '../common/logger.js';
import { HelpRequested, InputError, UsageError } from './usage.js';

type Runner = (args: string[]) => Promise<number>;

/** The commands that run until stopped, whose stdout is a JSON log. */
const SERVING = new Set(['start', 'sidecar', 'backend']);

function debugLogging(): boolean {
  return process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace';
}

/**
 * Each command's line in `cedargate --help`: a text, or read from the command's own table (the
 * policy command's subcommands), loaded only when the help is printed.
 */
type Summary = string | (() => Promise<string>);

const commands: Record<string, { summary: Summary; load: () => Promise<{ run: Runner }> }> = {
  start: {
    summary: 'backend and sidecar together, embedded defaults',
    load: () => import('./start.js'),
  },
  sidecar: { summary: 'the sidecar alone', load: () => import('./sidecar.js') },
  backend: { summary: 'the users backend alone', load: () => import('./backend.js') },
  'backend-check': {
    summary: 'backend-check URL --tenant T --user U: a users backend against the contract',
    load: () => import('./backend-check.js'),
  },
  tenant: {
    summary: 'tenant create --name N --owner-name N --owner-email E [--id UUID] | tenant list',
    load: () => import('./tenant.js'),
  },
  token: {
    summary: 'token --tenant T --sub U [--ttl SECONDS] | token revoke ...',
    load: () => import('./token.js'),
  },
  policy: {
    summary: async () => (await import('./policy/index.js')).summary(),
    load: () => import('./policy/index.js'),
  },
};

async function usage(): Promise<string> {
  const lines = await Promise.all(
    Object.entries(commands).map(
      async ([name, c]) =>
        `  ${name.padEnd(13)} ${typeof c.summary === 'string' ? c.summary : await c.summary()}`,
    ),
  );
  return `usage: cedargate <command> [options]\n       cedargate --version\n\ncommands:\n${lines.join('\n')}\n\nrun "cedargate <command> --help" for a command's flags\n`;
}

/** package.json's version (dist/src/cli/main.js → the repository root). */
function version(): string {
  const pkg = JSON.parse(
    readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`cedargate ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await usage());
    return name === undefined ? 2 : 0;
  }
  // Own keys only: "toString", "constructor" or "__proto__" name no command.
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    const hint = name.startsWith('-') ? `unknown flag ${name}` : `unknown command "${name}"`;
    process.stderr.write(`cedargate: ${hint}\nrun "cedargate --help" for usage\n`);
    return 2;
  }
  // Long-running commands route console output into their JSON log (see routeConsoleTo).
  if (!SERVING.has(name)) keepConsoleOffStdout(debugLogging());
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      return 0;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`cedargate ${name}: ${err.message}\nrun with --help for the flags\n`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof InputError) {
      process.stderr.write(`cedargate ${name}: ${err.message}\n`);
      return 2;
    }
    // One line for a person; the stack only when asked for (LOG_LEVEL=debug).
    const debug = debugLogging();
    const text =
      err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`cedargate ${name}: ${debug ? text : text.split('\n')[0]}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
