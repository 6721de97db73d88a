/**
 * The import graph of `src/` and the rules of docs/architecture.md, as a pure checker so that
 * the architecture test can run it on the real tree and its own unit test on a fake graph.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One arrow: `from` is a repo-relative file (`src/…`); `to` is one too, or a package name. */
export interface Arrow {
  from: string;
  to: string;
}

export interface Violation extends Arrow {
  rule: string;
}

/** Every static `import … from`, `export … from` and dynamic `import()` in every src/**\/*.ts. */
export function readImportGraph(repoRoot: string): Arrow[] {
  const arrows: Arrow[] = [];
  for (const file of listTs(join(repoRoot, 'src'))) {
    const from = toRepoPath(repoRoot, file);
    // preProcessFile is the compiler's own import scanner: multi-line imports, `export * from`
    // and `import('…')` included, comments and strings that merely look like imports excluded.
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      arrows.push({ from, to: resolveSpecifier(repoRoot, file, fileName) });
    }
  }
  return arrows;
}

function listTs(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return listTs(p);
      return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
    });
}

function toRepoPath(repoRoot: string, file: string): string {
  return relative(repoRoot, file).split(sep).join('/');
}

/** `./x.js` → `src/…/x.ts`; `node:fs` stays; `@scope/pkg/sub` → `@scope/pkg`, `pkg/sub` → `pkg`. */
function resolveSpecifier(repoRoot: string, file: string, spec: string): string {
  if (spec.startsWith('.')) {
    const target = resolve(dirname(file), spec);
    const candidates = [
      target.replace(/\.js$/, '.ts'),
      target,
      `${target}.ts`,
      join(target, 'index.ts'),
    ];
    const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    return toRepoPath(repoRoot, found ?? target);
  }
  if (spec.startsWith('node:')) return spec;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

const isIn = (path: string, folder: string): boolean => path.startsWith(`${folder}/`);
/** errors.ts and the configuration (config.ts, with its parts in src/config/). */
const isBase = (path: string): boolean =>
  path === 'src/errors.ts' || path === 'src/config.ts' || isIn(path, 'src/config');
const isLocal = (path: string): boolean => path.startsWith('src/');
const basename = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * The rules of docs/architecture.md, one function per rule: each returns a reason when the arrow
 * breaks it. Keep the names in step with the document's headings.
 */
export const RULES: ReadonlyArray<{ name: string; breaks: (a: Arrow) => boolean }> = [
  {
    name: 'sidecar and backend meet only over HTTP',
    breaks: ({ from, to }) =>
      (isIn(from, 'src/sidecar') && isIn(to, 'src/backend')) ||
      (isIn(from, 'src/backend') && isIn(to, 'src/sidecar')),
  },
  {
    name: 'the backend knows nothing of Cedar decisions (only src/policy/schema.ts)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/backend') && isIn(to, 'src/policy') && to !== 'src/policy/schema.ts',
  },
  {
    name: 'storage is below everything (store imports only store, common, errors, config)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/backend/store') &&
      isLocal(to) &&
      !isIn(to, 'src/backend/store') &&
      !isIn(to, 'src/common') &&
      !isBase(to),
  },
  {
    name: 'common depends on nothing above it (common imports only common, errors, config)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/common') && isLocal(to) && !isIn(to, 'src/common') && !isBase(to),
  },
  {
    name: 'errors and config import only common, errors and config',
    breaks: ({ from, to }) => isBase(from) && isLocal(to) && !isIn(to, 'src/common') && !isBase(to),
  },
  {
    name: 'the policy domain does not reach into its users (policy imports only policy, common, errors, config)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/policy') &&
      isLocal(to) &&
      !isIn(to, 'src/policy') &&
      !isIn(to, 'src/common') &&
      !isBase(to),
  },
  {
    name: 'the policy runtime never imports the authoring tools (src/policy/authoring)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/policy') &&
      !isIn(from, 'src/policy/authoring') &&
      isIn(to, 'src/policy/authoring'),
  },
  {
    name: 'the request path never imports the authoring tools (only src/sidecar/admin and the isolated engine do)',
    breaks: ({ from, to }) =>
      isIn(from, 'src/sidecar') &&
      !isIn(from, 'src/sidecar/admin') &&
      from !== 'src/sidecar/authz/engine-worker.ts' &&
      isIn(to, 'src/policy/authoring'),
  },
  {
    name: 'the admin port is its own room (only src/sidecar/assemble.ts reaches into src/sidecar/admin)',
    breaks: ({ from, to }) =>
      isIn(to, 'src/sidecar/admin') &&
      !isIn(from, 'src/sidecar/admin') &&
      from !== 'src/sidecar/assemble.ts',
  },
  {
    name: 'nothing imports the CLI but the CLI',
    breaks: ({ from, to }) => isIn(to, 'src/cli') && !isIn(from, 'src/cli'),
  },
  {
    name: 'only src/policy/cedar-adapter.ts imports @cedar-policy/cedar-wasm',
    breaks: ({ from, to }) =>
      to === '@cedar-policy/cedar-wasm' && from !== 'src/policy/cedar-adapter.ts',
  },
  {
    name: 'only store files import better-sqlite3',
    breaks: ({ from, to }) => to === 'better-sqlite3' && !isIn(from, 'src/backend/store'),
  },
  {
    name: 'only store files and src/common/redis-connection.ts import redis',
    breaks: ({ from, to }) =>
      to === 'redis' &&
      !isIn(from, 'src/backend/store') &&
      from !== 'src/common/redis-connection.ts',
  },
  {
    name: 'only app and server files import express',
    breaks: ({ from, to }) => to === 'express' && !/(^|-)(app|server)\.ts$/.test(basename(from)),
  },
];

export const BACKEND_LOADS_NO_CEDAR =
  'the backend reaches @cedar-policy/cedar-wasm only through schema.ts, to parse the schema';

/** Every arrow that breaks a rule, once per rule it breaks. */
export function findViolations(arrows: readonly Arrow[]): Violation[] {
  const direct = arrows.flatMap((arrow) =>
    RULES.filter((rule) => rule.breaks(arrow)).map((rule) => ({ ...arrow, rule: rule.name })),
  );
  return [...direct, ...findCedarLeaks(arrows)];
}

/**
 * schema.ts is the one policy file the backend may import, so the direct rules cannot see it
 * pull the Cedar engine in behind it. Blame the arrow where the backend leaves its own folder,
 * and name the chain that reaches cedar-wasm.
 */
function findCedarLeaks(arrows: readonly Arrow[]): Violation[] {
  const next = new Map<string, string[]>();
  for (const { from, to } of arrows) next.set(from, [...(next.get(from) ?? []), to]);
  const chainToCedar = (start: string): string[] | undefined => {
    const seen = new Set<string>([start]);
    const queue: string[][] = [[start]];
    for (let path = queue.shift(); path; path = queue.shift()) {
      const last = path[path.length - 1] ?? start;
      if (last === '@cedar-policy/cedar-wasm') return path;
      for (const to of next.get(last) ?? []) {
        if (!seen.has(to)) {
          seen.add(to);
          queue.push([...path, to]);
        }
      }
    }
    return undefined;
  };
  return (
    arrows
      // schema.ts parses the schema with Cedar's own parser, so that the backend's role list and
      // the sidecar's can never differ (docs/architecture.md); it reaches no decision code.
      .filter(({ from, to }) => isIn(from, 'src/backend') && !isIn(to, 'src/backend'))
      .filter(({ to }) => to !== 'src/policy/schema.ts')
      .flatMap(({ from, to }) => {
        const chain = chainToCedar(to);
        return chain
          ? [{ from, to, rule: `${BACKEND_LOADS_NO_CEDAR} (${chain.join(' → ')})` }]
          : [];
      })
  );
}

/** A known violation, allowed for now; `owner` names who removes it. */
export interface Exception extends Arrow {
  rule: string;
  owner: string;
}

/**
 * Splits violations into the forbidden ones and the excepted ones, and names the exceptions
 * that no longer match anything, so that a fixed arrow cannot stay excepted unnoticed.
 */
export function applyExceptions(
  violations: readonly Violation[],
  exceptions: readonly Exception[],
): { forbidden: Violation[]; stale: Exception[] } {
  const matches = (v: Violation, e: Exception): boolean =>
    v.from === e.from && v.to === e.to && v.rule.startsWith(e.rule);
  return {
    forbidden: violations.filter((v) => !exceptions.some((e) => matches(v, e))),
    stale: exceptions.filter((e) => !violations.some((v) => matches(v, e))),
  };
}

export function formatViolation(v: Violation): string {
  return `${v.from} → ${v.to}  (${v.rule})`;
}
