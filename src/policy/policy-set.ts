/**
 * A policy set as loaded from a directory: parsed file by file, every policy with a unique `@id`,
 * strictly validated against the schema, every problem pointed at file:line:column.
 */
import { join } from 'node:path';
import { compileLoadedDecider, type CompileDecider } from './compiled/loaded.js';
import { compilePolicySet, parsePolicyFile, validatePolicies } from './cedar-adapter.js';
import type {
  CedarProblem,
  CompiledPolicySet,
  ParsedPolicy,
  PolicyMeta,
  PolicyValidationProblem,
} from './cedar-adapter.js';
import { readPolicySources } from './policy-files.js';
import type { PolicyEst } from './est.js';
import { parseSchema, SCHEMA_FILE } from './schema.js';
import type { ParsedSchema } from './types.js';
import type { PolicySources, SourceFile } from './policy-files.js';
import { findTooDeep, POLICY_LIMITS } from './policy-limits.js';
import { positionsIn, type SourcePosition } from './source-position.js';
import { splitPolicies } from './text-scanners.js';

/** One problem, where an editor can jump to it. `file` is the policy dir joined with the file. */
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  message: string;
  help?: string;
}

/** A policy set that does not load; `problems` say where and why. */
export class PolicyLoadError extends Error {
  readonly problems: PolicyProblem[];
  constructor(problems: PolicyProblem[]) {
    super(
      `policy set refused (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
        problems.map(formatProblem).join('; '),
    );
    this.name = 'PolicyLoadError';
    this.problems = problems;
  }
}

/** `file:line:column: message` (the shape compilers and editors agree on). */
export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

/** Where a policy lives, and what it says when it denies. */
export interface PolicyInfo extends PolicyMeta {
  id: string;
  /** Relative to the policy directory. */
  file: string;
  line: number;
  column: number;
}

/** A policy set that parsed and validated, ready to compile. */
export interface LoadedPolicySet {
  dir: string;
  version: string;
  /** Policy files, relative to `dir`, sorted. */
  files: string[];
  /** Sorted by id. */
  policies: PolicyInfo[];
  schema: ParsedSchema;
  /** Each policy's own text, keyed by `@id` (what Cedar gets). */
  texts: Record<string, string>;
  /** Validator warnings; they do not refuse the set. */
  warnings: PolicyProblem[];
}

/**
 * Reads `dir` and builds its policy set; throws {@link PolicyLoadError}. With `only` (a `.cedar`
 * file relative to `dir`), the set is that file's policies alone, against `dir`'s schema.
 */
export async function loadPolicySet(dir: string, only?: string): Promise<LoadedPolicySet> {
  let sources: PolicySources;
  try {
    sources = await readPolicySources(dir, only);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new PolicyLoadError([
      { file: dir, line: 1, column: 1, message: `cannot read: ${message}` },
    ]);
  }
  return buildPolicySet(dir, sources);
}

/** Builds the policy set of already-read sources; throws {@link PolicyLoadError}. */
export function buildPolicySet(dir: string, sources: PolicySources): LoadedPolicySet {
  const locator = new Locator(dir);
  const { schemaFile, schema } = readSchema(sources, locator);
  const problems: PolicyProblem[] = [];
  const byId = readPolicies(sources, locator, problems);
  // Validate what parsed even when other policies did not, so one run reports every problem.
  const texts: Record<string, string> = {};
  for (const [id, located] of byId) texts[id] = located.text;
  const validation = validatePolicies(schemaFile.text, texts);
  if (validation.schemaProblems.length > 0) {
    throw new PolicyLoadError(
      validation.schemaProblems.map((p) => locator.at(schemaFile.file, schemaFile.text, p)),
    );
  }
  const locate = (p: PolicyValidationProblem): PolicyProblem => {
    const located = byId.get(p.policyId);
    if (located === undefined) return { file: dir, line: 1, column: 1, message: p.message };
    return locator.at(located.file, located.fileText, p, located.start);
  };
  problems.push(...validation.errors.map(locate));
  if (problems.length > 0) throw new PolicyLoadError(problems.sort(byPosition));

  const policies = [...byId.values()]
    .map((l) => l.info)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    dir,
    version: sources.version,
    files: sources.policies.map((s) => s.file),
    policies,
    schema,
    texts,
    warnings: validation.warnings.map(locate),
  };
}

/** Options of {@link compileLoadedSet}. */
export interface CompileLoadedOptions {
  /**
   * `compiled` (the default): the compiled decider (src/policy/compiled/), as the sidecar decides,
   * cedar-wasm deciding what it hands back, and the whole set when the set does not compile.
   * `wasm`: cedar-wasm alone, for a caller that needs Cedar's own answer (the judge of a test).
   */
  engine?: 'compiled' | 'wasm';
  /** cedar-wasm's call form (`CompileOptions.form`): `full` is the reference `fitted` is held to. */
  form?: 'fitted' | 'full';
  /**
   * The set already preparsed in cedar-wasm, which then decides in its place (`slot` and `form`
   * unused): the live store preparses in turns of the event loop, in a slot of its own.
   */
  wasm?: CompiledPolicySet;
  /** Each policy's typed EST, when read elsewhere (the store's isolated loader). */
  trees?: Readonly<Record<string, PolicyEst>>;
  /** Compiles the set to plain JavaScript (default compileLoadedDecider; tests pass stand-ins). */
  compiler?: CompileDecider;
}

/** A loaded set ready to decide, and which engine decides it. */
export interface LoadedSetDecider extends CompiledPolicySet {
  /** `compiled` when the compiled decider decides (cedar-wasm only what it hands back). */
  readonly decider: 'compiled' | 'wasm';
  /** Why cedar-wasm decides: the construct the compiler refused, or `asked for`; null if not. */
  readonly reason: string | null;
  /** Requests the compiled decider decided, and those it handed to cedar-wasm, by reason. */
  readonly stats: () => { compiled: number; fallbacks: Record<string, number> };
}

/** Puts Cedar's problems at file:line:column of the policy directory's files. */
class Locator {
  // One line index per file: placing each of 4,000 policies by a scan from the top was quadratic.
  private readonly indexes = new Map<string, (index: number) => SourcePosition>();

  constructor(readonly dir: string) {}

  position(text: string, index: number): SourcePosition {
    let positions = this.indexes.get(text);
    if (positions === undefined) this.indexes.set(text, (positions = positionsIn(text)));
    return positions(index);
  }

  /** A problem at `p.index + shift` of `text`, the text of `file`; its first line without one. */
  at(file: string, text: string, p: CedarProblem, shift = 0): PolicyProblem {
    const pos =
      p.index === undefined ? { line: 1, column: 1 } : this.position(text, p.index + shift);
    const out: PolicyProblem = { file: join(this.dir, file), ...pos, message: p.message };
    if (p.help !== undefined) out.help = p.help;
    return out;
  }
}

/** The schema file, parsed, once the whole set is within the limits; throws otherwise. */
function readSchema(
  sources: PolicySources,
  locator: Locator,
): { schemaFile: SourceFile; schema: ParsedSchema } {
  const schemaFile = sources.schema;
  if (schemaFile === null) {
    throw new PolicyLoadError([
      { file: join(locator.dir, SCHEMA_FILE), line: 1, column: 1, message: 'missing schema file' },
    ]);
  }
  const overLimits = limitProblems(sources);
  if (overLimits.length > 0) {
    throw new PolicyLoadError(
      overLimits.map((l) =>
        locator.at(l.file.file, l.file.text, { index: l.index, message: l.message }),
      ),
    );
  }
  const answer = parseSchema(schemaFile.text);
  if (!answer.ok) {
    throw new PolicyLoadError(
      answer.problems.map((p) => locator.at(schemaFile.file, schemaFile.text, p)),
    );
  }
  return { schemaFile, schema: answer.schema };
}

/** A policy as read from its file. */
interface Located {
  file: string;
  fileText: string;
  /** The policy's own text and where it starts in the file. */
  text: string;
  start: number;
  info: PolicyInfo;
}

/**
 * Every policy of every file that parses, by `@id`, parsed file by file so that positions stay
 * in their file; each problem (a file that does not parse, a missing or repeated `@id`) is added
 * to `problems`.
 */
function readPolicies(
  sources: PolicySources,
  locator: Locator,
  problems: PolicyProblem[],
): Map<string, Located> {
  const byId = new Map<string, Located>();
  for (const source of sources.policies) {
    const parsed = parsePolicyFile(source.text);
    if (!parsed.ok) {
      problems.push(...parsed.problems.map((p) => locator.at(source.file, source.text, p)));
      continue;
    }
    for (const policy of parsed.policies) {
      const located = locatedOf(source, policy, locator.position(source.text, policy.firstToken));
      const { id, line, column } = located.info;
      const problem = idProblem(located, byId, locator.dir);
      if (problem === null) byId.set(id, located);
      else problems.push({ file: join(locator.dir, source.file), line, column, message: problem });
    }
  }
  return byId;
}

function locatedOf(source: SourceFile, policy: ParsedPolicy, pos: SourcePosition): Located {
  return {
    file: source.file,
    fileText: source.text,
    text: policy.text,
    start: policy.start,
    info: {
      id: policy.annotations['id'] ?? '',
      file: source.file,
      ...pos,
      effect: policy.effect,
      notice: policy.annotations['notice'] ?? null,
    },
  };
}

/** Why a policy's `@id` is refused (missing, or an earlier policy's), or null. */
function idProblem(located: Located, byId: Map<string, Located>, dir: string): string | null {
  const { id } = located.info;
  if (id.trim() === '') return 'policy has no @id("...") annotation';
  const earlier = byId.get(id);
  if (earlier === undefined) return null;
  return `duplicate @id("${id}"): already used at ${join(dir, earlier.file)}:${earlier.info.line}:${earlier.info.column}`;
}

/**
 * Compiles a loaded set under `slot` (a name of its own per caller: compiling the same slot again
 * replaces the earlier set), for everything that decides: the live store (with the set it
 * preparsed, `wasm`, and its loader's `trees`), `policy test`, `explain`, `diff`, `check`, the
 * playground. By default the compiled decider decides; cedar-wasm is preparsed only when it is
 * first asked (a request the compiled decider hands back, `callShape`, or `engine: 'wasm'`), so a
 * tool whose requests all compile never pays Cedar's preparse.
 */
export function compileLoadedSet(
  slot: string,
  set: LoadedPolicySet,
  options: CompileLoadedOptions = {},
): LoadedSetDecider {
  const meta: Record<string, PolicyMeta> = {};
  for (const p of set.policies) meta[p.id] = { effect: p.effect, notice: p.notice };
  let wasm: CompiledPolicySet | null = options.wasm ?? null;
  const cedar = (): CompiledPolicySet =>
    (wasm ??= compilePolicySet(slot, set.schema, set.texts, meta, {
      form: options.form ?? 'fitted',
    }));
  const noStats = () => ({ compiled: 0, fallbacks: {} });
  const wasmOnly = (reason: string): LoadedSetDecider => {
    const compiled = cedar();
    return {
      decider: 'wasm',
      reason,
      callShape: compiled.callShape,
      authorize: (request) => compiled.authorize(request),
      stats: noStats,
    };
  };
  if (options.engine === 'wasm') return wasmOnly('asked for');
  const compiler = options.compiler ?? compileLoadedDecider;
  let answer;
  try {
    answer = compiler(set, (request) => cedar().authorize(request), options.trees);
  } catch (err) {
    return wasmOnly(`the compiler failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if ('unsupported' in answer) return wasmOnly(answer.unsupported);
  const { decider } = answer;
  return {
    decider: 'compiled',
    reason: null,
    get callShape() {
      return cedar().callShape;
    },
    authorize: (request) => decider.decide(request),
    stats: () => decider.stats?.() ?? noStats(),
  };
}

/**
 * The problems of `sources` against {@link POLICY_LIMITS} at file:line:column, found without
 * Cedar (cheap: one scan of the text). {@link buildPolicySet} refuses them first too.
 */
export function policyLimitProblems(dir: string, sources: PolicySources): PolicyProblem[] {
  return limitProblems(sources).map((l) => ({
    file: join(dir, l.file.file),
    ...positionsIn(l.file.text)(l.index),
    message: l.message,
  }));
}

/**
 * What goes over {@link POLICY_LIMITS}, found without Cedar: the set's bytes and policy count,
 * and each file's nesting (a file nested too deep is never handed to Cedar: it would trap).
 */
function limitProblems(
  sources: PolicySources,
): { file: SourceFile; index: number; message: string }[] {
  const schema = sources.schema;
  const files = schema === null ? sources.policies : [schema, ...sources.policies];
  let bytes = 0;
  for (const file of files) {
    bytes += Buffer.byteLength(file.text, 'utf8');
    if (bytes > POLICY_LIMITS.maxSetBytes) {
      const message = `the policy set holds more than ${POLICY_LIMITS.maxSetBytes} bytes (schema and policy files together), the limit`;
      return [{ file, index: 0, message }];
    }
  }
  let count = 0;
  for (const file of sources.policies) {
    const chunks = splitPolicies(file.text);
    if (count + chunks.length > POLICY_LIMITS.maxPolicies) {
      const first = chunks[POLICY_LIMITS.maxPolicies - count];
      const message = `the policy set holds more than ${POLICY_LIMITS.maxPolicies} policies, the limit`;
      return [{ file, index: first?.firstToken ?? 0, message }];
    }
    count += chunks.length;
  }
  const out: { file: SourceFile; index: number; message: string }[] = [];
  for (const file of files) {
    const mode = file === schema ? 'schema' : 'policy';
    const deep = findTooDeep(file.text, POLICY_LIMITS.maxNesting, mode);
    if (deep !== null) out.push({ file, ...deep });
  }
  return out;
}

function byPosition(a: PolicyProblem, b: PolicyProblem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.column - b.column;
}
