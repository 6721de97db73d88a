/**
 * Starts real cedargate processes (the compiled CLI) for end-to-end tests, and stops them.
 * Output is kept so a failing test can show it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliEntry = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
export const shippedPolicies = join(repoRoot, 'policies');

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  /** What it wrote to stderr alone (logs go to stdout). */
  stderr(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** `remove` is a function property, not a method, so tests may pass it around unbound. */
export function tempDir(prefix = 'cedargate-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Spawns `node dist/src/cli/main.js ...args` with the given environment added. */
export function startCli(args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [cliEntry, ...args], {
    env: { ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    child,
    output: () => out,
    stderr: () => err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

/** Runs a CLI command to completion, with `input` on its stdin when given (none otherwise). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runProcess(process.execPath, [cliEntry, ...args], cliEnv(env), input);
  return { ...r, code: r.code ?? 1 };
}

/** `bin/cedargate` itself (the shell entry a person runs), to completion. */
export async function runBin(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runProcess(join(repoRoot, 'bin', 'cedargate'), args, cliEnv(env));
  return { ...r, code: r.code ?? 1 };
}

const cliEnv = (env: Record<string, string>) => ({ LOG_LEVEL: 'warn', ...env });

/** Runs the compiled benchmark (`dist/bench/run.js`) with `args` to completion. */
export const runBench = (args: string[]) =>
  runProcess(process.execPath, [join(repoRoot, 'dist', 'bench', 'run.js'), ...args]);

/**
 * Runs `command ...args` to completion with `env` added to this process's, and `input` on its
 * stdin when given. The code is null when a signal ended it.
 */
export function runProcess(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The JSON log lines in a process's output (a line that does not parse counts as `{}`). */
export function jsonLogLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}
