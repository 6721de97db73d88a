/**
 * `bin/cedargate <command>`: dispatches to one module per command. Each module exports
 * `run(args)` and resolves with the exit code; long-running commands resolve when they stop.
 */
import { ConfigError } from '../config.js';
import { UsageError } from './usage.js';

type Runner = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<{ run: Runner }> }> = {
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
    summary: 'tenant create --name N --owner-name N --owner-email E',
    load: () => import('./tenant.js'),
  },
  token: {
    summary: 'token --tenant T --sub U [--ttl SECONDS] | token revoke ...',
    load: () => import('./token.js'),
  },
  policy: {
    summary: 'policy validate|test|fmt|explain [DIR] | policy diff BASE CANDIDATE',
    load: () => import('./policy.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`);
  return `usage: cedargate <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`cedargate: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`cedargate ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(
      `cedargate ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
