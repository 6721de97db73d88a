/**
 * The policy playground's questions, without HTTP (playground-app.ts serves them): the live set's
 * texts, one request decided by the live set and by an edited copy side by side, the edited
 * copy's validation problems at their line, and `policy diff` of the copy against the live set.
 *
 * Nothing here can change the live set, nor reach the Cedar instance that decides live requests:
 * the copy is built from the texts the page sends in an isolated engine (a worker with its own
 * Cedar, limits on memory and time: authz/isolated-engine.ts), after a scan that refuses text
 * nested too deep or too large (400, at file:line:column) before any Cedar sees it. The live side
 * is decided by the store.
 * The diff may decide millions of requests: it runs in a worker thread (its own Cedar), one at
 * a time, with a request limit and a time limit, so the proxy's event loop never waits on it.
 */
import { Worker } from 'node:worker_threads';
import type { NewUser, UserPatch } from '../../common/user.js';
import { InvalidInputError, UnavailableError } from '../../errors.js';
import type { DiffReport } from '../../policy/authoring/diff.js';
import { explainDecision, type Explanation } from '../../policy/authoring/explain.js';
import {
  readPolicySources,
  type PolicySources,
  type SourceFile,
} from '../../policy/policy-files.js';
import { formatProblem, policyLimitProblems, type PolicyProblem } from '../../policy/policy-set.js';
import { SCHEMA_FILE } from '../../policy/schema.js';
import { requestOfQuestion, type Question, type QuestionUser } from '../../policy/question.js';
import type { AuthzRequest, UsersAction } from '../../policy/types.js';
import { USERS_ACTIONS, RESOURCE_KIND_OF } from '../../policy/types.js';
import {
  IsolatedEngineError,
  runIsolated,
  type IsolationLimits,
} from '../authz/isolated-engine.js';
import type { PolicyStore } from '../authz/policy-store.js';

/** The policy texts a page shows or sends: the schema and each `.cedar` file. */
export interface PlaygroundSources {
  schema: string;
  files: SourceFile[];
}

/** The live set's texts, and whether the files on disk are the set in force. */
export interface LiveSources extends PlaygroundSources {
  version: string;
  /** false when the files changed and were refused (or not yet reloaded): the page says so. */
  in_force: boolean;
}

/** The facts of a request, as the page's form gives them. */
export interface PlaygroundRequest {
  action: UsersAction;
  principal: { roles: string[]; owner: boolean };
  /** The target user of read, update and delete. */
  target: { roles: string[]; owner: boolean; same_user: boolean; other_tenant: boolean };
  /** The body of an update (`{name?, roles?, avatar?}`) or a create (`{roles}`). */
  body: { roles?: string[]; name_changes?: boolean; avatar_changes?: boolean };
}

/** One side's answer: the decision explained (determining policies at file:line), or why none. */
export type SideAnswer =
  { ok: true; explanation: Explanation } | { ok: false; problems: PolicyProblem[] };

export interface DecideAnswer {
  live: SideAnswer;
  edited: SideAnswer;
}

export interface Playground {
  live(): Promise<LiveSources>;
  decide(edited: PlaygroundSources, request: PlaygroundRequest): Promise<DecideAnswer>;
  validate(edited: PlaygroundSources): Promise<{ ok: boolean; problems: PolicyProblem[] }>;
  diff(edited: PlaygroundSources, maxRequests: number): Promise<DiffAnswer>;
  close(): Promise<void>;
}

export type DiffAnswer =
  { ok: true; report: DiffReport } | { ok: false; problems: PolicyProblem[] };

export interface PlaygroundOptions {
  policies: PolicyStore;
  policyDir: string;
  /** A diff running longer than this is stopped (503). */
  diffTimeoutMs?: number;
}

/** What the diff worker is sent, and what it answers. */
export interface DiffJob {
  base: PolicySources;
  candidate: PolicySources;
  maxRequests: number;
}
export type DiffResult =
  { ok: true; report: DiffReport } | { ok: false; problems: PolicyProblem[] };

/** Where a page's texts are said to live: problems and locations name files as the page does. */
const EDITED_DIR = '';
/** The isolated engine's limits for one edited copy (docs/contract.md, "Policy limits"). */
export const PLAYGROUND_LIMITS: IsolationLimits = { timeoutMs: 10_000, maxMemoryMb: 256 };
const FACT_IDS = {
  principal: 'PRINCIPAL',
  target: 'TARGET',
  tenant: 'TENANT',
  other: 'OTHER-TENANT',
};

export function createPlayground(options: PlaygroundOptions): Playground {
  const { policies, policyDir } = options;
  const diffTimeoutMs = options.diffTimeoutMs ?? 60_000;
  let running: Worker | undefined;
  let busy = false;

  const live = async (): Promise<LiveSources> => {
    const sources = await readPolicySources(policyDir);
    return {
      schema: sources.schema?.text ?? '',
      files: sources.policies,
      version: policies.current().version,
      in_force: sources.version === policies.current().version,
    };
  };

  /**
   * A live default deny, traced in the isolated engine over the texts on disk when they are the
   * set in force (the snapshot keeps no texts); otherwise left as decided, without `unmet`.
   */
  const traced = async (e: Explanation): Promise<Explanation> => {
    if (e.decision !== 'deny' || e.policies.length > 0) return e;
    const sources = await readPolicySources(policyDir);
    if (sources.version !== e.version) return e;
    const r = await isolated({ kind: 'decide', dir: policyDir, sources, request: e.request });
    if (!r.ok || r.kind !== 'decide' || r.explanation.unmet === undefined) return e;
    return { ...e, unmet: r.explanation.unmet, unanalysed: r.explanation.unanalysed ?? [] };
  };

  return {
    live,
    async decide(edited, request) {
      const authz = authzRequestOf(request);
      const sources = checkedSources(edited);
      const liveSet = policies.current();
      const explanation = explainDecision(policyDir, liveSet, authz, policies.decide(authz));
      const liveAnswer: SideAnswer = { ok: true, explanation: await traced(explanation) };
      const result = await isolated({ kind: 'decide', dir: EDITED_DIR, sources, request: authz });
      if (!result.ok) return { live: liveAnswer, edited: result };
      if (result.kind !== 'decide') throw new Error(`isolated engine answered ${result.kind}`);
      return { live: liveAnswer, edited: { ok: true, explanation: result.explanation } };
    },
    async validate(edited) {
      const sources = checkedSources(edited);
      const result = await isolated({ kind: 'validate', dir: EDITED_DIR, sources });
      if (!result.ok) return { ok: false, problems: result.problems };
      if (result.kind !== 'validate') throw new Error(`isolated engine answered ${result.kind}`);
      return { ok: true, problems: result.warnings };
    },
    async diff(edited, maxRequests) {
      const checked = checkedSources(edited);
      if (busy) {
        throw new UnavailableError('a policy diff is already running; try again', {
          retryAfterSeconds: 2,
        });
      }
      busy = true; // before the first await: a second click must not start a second worker
      try {
        const built = await isolated({ kind: 'validate', dir: EDITED_DIR, sources: checked });
        if (!built.ok) return built;
        const base = await readPolicySources(policyDir);
        const job: DiffJob = { base, candidate: sourcesOf(edited), maxRequests };
        const worker = new Worker(new URL('./playground-diff-worker.js', import.meta.url), {
          workerData: job,
        });
        running = worker;
        try {
          return await resultOf(worker, diffTimeoutMs);
        } finally {
          running = undefined;
          await worker.terminate();
        }
      } finally {
        busy = false;
      }
    },
    async close() {
      await running?.terminate();
    },
  };
}

/**
 * The edited texts as sources, refused with a 400 (file:line:column) when they go over the
 * policy limits: text nested deep enough to overflow Cedar's stack never reaches any Cedar.
 */
function checkedSources(edited: PlaygroundSources): PolicySources {
  const sources = sourcesOf(edited);
  const problems = policyLimitProblems(EDITED_DIR, sources);
  if (problems.length > 0) {
    throw new InvalidInputError(problems.map(formatProblem).join('; '), {
      details: { field: 'policies', problems },
    });
  }
  return sources;
}

/** Runs a job in an isolated engine; an engine that fails or runs long is a 503, never a 500. */
async function isolated(job: Parameters<typeof runIsolated>[0]) {
  try {
    return await runIsolated(job, PLAYGROUND_LIMITS);
  } catch (err) {
    if (err instanceof IsolatedEngineError) {
      throw new UnavailableError(`${err.message}; the live set is untouched`, {
        retryAfterSeconds: 1,
      });
    }
    throw err;
  }
}

export function sourcesOf(edited: PlaygroundSources): PolicySources {
  return {
    schema: { file: SCHEMA_FILE, text: edited.schema },
    policies: [...edited.files].sort((a, b) => (a.file < b.file ? -1 : 1)),
    version: 'playground',
  };
}

function resultOf(worker: Worker, timeoutMs: number): Promise<DiffAnswer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new UnavailableError(`the policy diff took longer than ${timeoutMs} ms; lower the limit`),
      );
    }, timeoutMs);
    worker.once('message', (result: DiffResult) => {
      clearTimeout(timer);
      resolve(result);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new UnavailableError(`the policy diff stopped (exit ${code})`));
    });
  });
}

/**
 * The request the page describes, asked as the request path asks it (policy/question.ts): the
 * form's facts become users and a body, and the question module makes the request.
 */
export function authzRequestOf(r: PlaygroundRequest): AuthzRequest {
  return requestOfQuestion(questionOf(r));
}

/** The form's facts as a question: made-up ids, and a body that changes what the form says. */
function questionOf(r: PlaygroundRequest): Question {
  const tenantId = r.target.other_tenant ? FACT_IDS.other : FACT_IDS.tenant;
  const principal: QuestionUser = {
    id: FACT_IDS.principal,
    tenant_id: FACT_IDS.tenant,
    roles: r.principal.roles,
    is_owner: r.principal.owner,
    name: FORM_NAME,
    avatar_digest: null,
  };
  const target: QuestionUser = r.target.same_user
    ? principal
    : {
        id: FACT_IDS.target,
        tenant_id: tenantId,
        roles: r.target.roles,
        is_owner: r.target.owner,
        name: FORM_NAME,
        avatar_digest: null,
      };
  const question: Question = { action: r.action, tenantId, principal };
  if (RESOURCE_KIND_OF[r.action] === 'User') question.target = target;
  if (r.action === 'users:create') question.input = { ...NEW_USER, roles: r.body.roles ?? [] };
  if (r.action === 'users:update') question.input = patchOf(r.body);
  return question;
}

/** The name every form user has, and the body of a create: only its roles reach the policies. */
const FORM_NAME = 'the name';
const NEW_USER: NewUser = { name: 'a new user', email: 'new@example.invalid', roles: [] };

function patchOf(body: PlaygroundRequest['body']): UserPatch {
  const patch: UserPatch = {};
  if (body.roles !== undefined) patch.roles = body.roles;
  if (body.name_changes === true) patch.name = 'a new name';
  if (body.avatar_changes === true) patch.avatar = 'data:image/png;base64,AA==';
  return patch;
}

/** Checks the page's request (400 naming the field); only the facts the form can give. */
export function parsePlaygroundRequest(value: unknown): PlaygroundRequest {
  const o = object(value, 'request');
  const action = o['action'];
  if (typeof action !== 'string' || !(USERS_ACTIONS as readonly string[]).includes(action)) {
    throw invalid('request.action', `must be one of ${USERS_ACTIONS.join(', ')}`);
  }
  const p = object(o['principal'] ?? {}, 'request.principal');
  const t = object(o['target'] ?? {}, 'request.target');
  const b = object(o['body'] ?? {}, 'request.body');
  const body: PlaygroundRequest['body'] = {};
  if (b['roles'] !== undefined) body.roles = roles(b['roles'], 'request.body.roles');
  if (b['name_changes'] !== undefined)
    body.name_changes = flag(b['name_changes'], 'request.body.name_changes');
  if (b['avatar_changes'] !== undefined)
    body.avatar_changes = flag(b['avatar_changes'], 'request.body.avatar_changes');
  return {
    action: action as UsersAction,
    principal: {
      roles: roles(p['roles'] ?? [], 'request.principal.roles'),
      owner: flag(p['owner'] ?? false, 'request.principal.owner'),
    },
    target: {
      roles: roles(t['roles'] ?? [], 'request.target.roles'),
      owner: flag(t['owner'] ?? false, 'request.target.owner'),
      same_user: flag(t['same_user'] ?? false, 'request.target.same_user'),
      other_tenant: flag(t['other_tenant'] ?? false, 'request.target.other_tenant'),
    },
    body,
  };
}

/** The most files and bytes of text an edited copy may hold. */
export const MAX_FILES = 64;

/** Checks the page's edited copy: `{schema: string, files: [{file, text}]}`. */
export function parsePlaygroundSources(value: unknown): PlaygroundSources {
  const o = object(value, 'policies');
  const schema = o['schema'];
  if (typeof schema !== 'string') throw invalid('policies.schema', 'must be a string');
  const files = o['files'];
  if (!Array.isArray(files) || files.length > MAX_FILES) {
    throw invalid('policies.files', `must be an array of at most ${MAX_FILES} files`);
  }
  const seen = new Set<string>();
  const out: SourceFile[] = files.map((f: unknown, i) => {
    const file = object(f, `policies.files[${i}]`);
    const name = file['file'];
    const text = file['text'];
    // A name, never a path: the copy lives in memory, but names show up in problems and links.
    if (typeof name !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\.cedar$/.test(name)) {
      throw invalid(`policies.files[${i}].file`, 'must be a file name ending in .cedar');
    }
    if (seen.has(name)) throw invalid(`policies.files[${i}].file`, `"${name}" is given twice`);
    seen.add(name);
    if (typeof text !== 'string') throw invalid(`policies.files[${i}].text`, 'must be a string');
    return { file: name, text };
  });
  return { schema, files: out };
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

function roles(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length > 64 || !value.every((r) => typeof r === 'string')) {
    throw invalid(field, 'must be an array of role names');
  }
  return [...new Set(value)];
}

function flag(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}

function invalid(field: string, message: string): InvalidInputError {
  return new InvalidInputError(`${field} ${message}`, { details: { field } });
}
