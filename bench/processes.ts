/**
 * The processes under test: the real `cedargate backend` and `cedargate sidecar` commands (the
 * compiled CLI), each its own node process, so the numbers include everything a deployment
 * pays. Node flags can be added (e.g. `--cpu-prof`), which NODE_OPTIONS does not allow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliEntry = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** One running cedargate command. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** What the process printed (stdout and stderr), for error messages. */
  output(): string;
  /** How it ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  ended(): string | undefined;
  /** SIGTERM (graceful: a CPU profile gets written), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `node [nodeArgs] dist/src/cli/main.js <command>` with `env` added to ours. */
export function spawnCedargate(
  name: string,
  command: string,
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): ServerProcess {
  return spawnServer(name, process.execPath, [...nodeArgs, cliEntry, command], env);
}

/** Spawns any server program (a peer app, the Cerbos PDP) with `env` added to ours. */
export function spawnServer(
  name: string,
  file: string,
  args: readonly string[],
  env: Record<string, string>,
): ServerProcess {
  const child: ChildProcess = spawn(file, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Keep the tail only: a long soak must not grow the bench process's memory.
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let ended: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`${name}: could not spawn node`);
  const pid = child.pid;
  return {
    name,
    pid,
    output: () => out,
    ended: () => ended,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 2xx, or throws with the process output after `timeoutMs`. */
export async function waitUntilHealthy(
  proc: ServerProcess,
  url: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${proc.name} did not become healthy at ${url}:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS); undefined elsewhere. */
export function readRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Linux reports utime/stime in clock ticks of USER_HZ, which is 100 on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used, in µs, from /proc/<pid>/stat; undefined elsewhere. */
export function readCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime + stime) ? ((utime + stime) * 1e6) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
