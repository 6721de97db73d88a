/**
 * Just enough of Docker's Dockerfile and .dockerignore rules to replay the cedargate image build
 * without a Docker engine: instructions (with line continuations and comments), build stages with
 * global ARGs, exec-form arguments, ENV pairs and .dockerignore patterns. Anything the replay does
 * not understand is an error, never silently ignored.
 */

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  keyword: string;
  /** Everything after the keyword, trimmed. */
  args: string;
  /** 1-based line where the instruction starts. */
  line: number;
}

/** One `FROM ... [AS name]` stage and the instructions that follow it. */
export interface Stage {
  name: string;
  index: number;
  /** The base image, global ARGs substituted. */
  base: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into instructions (comments and parser directives dropped). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let pending: { line: number; parts: string[] } | null = null;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comments end nowhere special: inside a continuation they are dropped too (as Docker does).
    if (trimmed.startsWith('#')) return;
    if (pending === null && trimmed === '') return;
    const continues = trimmed.endsWith('\\');
    const text = continues ? trimmed.slice(0, -1).trim() : trimmed;
    pending ??= { line: i + 1, parts: [] };
    if (text !== '') pending.parts.push(text);
    if (continues) return;
    const joined = pending.parts.join(' ');
    const match = /^(\S+)\s*(.*)$/s.exec(joined);
    if (match?.[1] !== undefined) {
      out.push({
        keyword: match[1].toUpperCase(),
        args: (match[2] ?? '').trim(),
        line: pending.line,
      });
    }
    pending = null;
  });
  if (pending !== null) throw new Error('the Dockerfile ends inside a line continuation');
  return out;
}

/** The exec (JSON array) form of an instruction's arguments, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) return undefined;
  return parsed;
}

/** Splits leading `--flag=value` options (COPY, RUN, HEALTHCHECK) from the rest. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (m?.[1] === undefined) return { flags, rest };
    flags[m[1]] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
}

/** Splits shell-form words, honouring double and single quotes. */
export function splitWords(args: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of args.matchAll(re)) {
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3] ?? ''));
  }
  return words;
}

/** `ENV A=1 B="two words"` (or the legacy `ENV A value`) as pairs. */
export function parseEnv(args: string): Record<string, string> {
  const words = splitWords(args.replace(/(\S+)="/g, '"$1='));
  if (words.length > 0 && !words[0]?.includes('=')) {
    const [key, ...value] = args.split(/\s+/);
    return { [key ?? '']: value.join(' ') };
  }
  const env: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`ENV: cannot read "${w}"`);
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return env;
}

/** `${NAME}`, `${NAME:-default}` and `$NAME` substitution; an unknown name is an error. */
export function substitute(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g, (_all, braced, dflt, bare) => {
    const name = (braced ?? bare) as string;
    const value = vars[name] ?? (dflt as string | undefined);
    if (value === undefined) throw new Error(`undefined build variable $${name}`);
    return value;
  });
}

/** Splits instructions into stages; global ARG defaults (and overrides) fill in FROM lines. */
export function splitStages(
  instructions: readonly Instruction[],
  buildArgs: Readonly<Record<string, string>> = {},
): { globalArgs: Record<string, string>; stages: Stage[] } {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m?.[1] === undefined) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      const index = stages.length;
      stages.push({
        name: m[2] ?? String(index),
        index,
        base: substitute(m[1], globalArgs),
        instructions: [],
      });
      continue;
    }
    const current = stages.at(-1);
    if (current !== undefined) {
      current.instructions.push(ins);
      continue;
    }
    if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: only ARG may come before FROM`);
    const [name, dflt] = ins.args.split('=', 2) as [string, string | undefined];
    const value = buildArgs[name] ?? dflt;
    if (value !== undefined) globalArgs[name] = value;
  }
  return { globalArgs, stages };
}

/**
 * A `.dockerignore` matcher: `path` (relative to the context, `/`-separated) is left out of the
 * build context. Docker's rules: `*` and `?` stay within a path segment, `**` spans segments, a
 * pattern that matches a directory leaves out everything below it, `!` re-includes, last match wins.
 */
export function createIgnoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = (exclude ? l : l.slice(1).trim()).replace(/^\.?\/+/, '').replace(/\/+$/, '');
      return { exclude, re: patternToRegExp(pattern) };
    });
  return (path: string) => {
    const segments = path.split('/');
    const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) ignored = rule.exclude;
    }
    return ignored;
  };
}

function patternToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more whole directories; a trailing `**` matches anything.
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
