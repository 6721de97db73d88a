/**
 * The policy playground's questions, without HTTP (playground-app.ts serves them): the live set's
 * texts, one request decided by the live set and by an edited copy side by side, the edited
 * copy's validation problems at their line, `policy diff` of the copy against the live set, and
 * `policy check` of the copy's invariants.
 *
 * Nothing here can change the live set, nor reach the Cedar instance that decides live requests:
 * the copy is built from the texts the page sends in an isolated engine (a worker with its own
 * Cedar, limits on memory and time: authz/isolated-engine.ts), after a scan that refuses text
 * nested too deep or too large (400, at file:line:column) before any Cedar sees it. The live side
 * is decided by the store.
 * The diff may decide millions of requests and the check explore thousands of states: each runs
 * in a worker thread (its own Cedar), one at a time, with a time limit (playground-jobs.ts), so
 * the proxy's event loop never waits on them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NewUser, UserPatch } from '../../common/user.js';
import { InvalidInputError, UnavailableError } from '../../errors.js';
import type { DiffReport } from '../../policy/authoring/diff.js';
import { diffSections, type DiffSections } from '../../policy/authoring/diff-render.js';
import { explainDecision, type Explanation } from '../../policy/authoring/explain.js';
import { DEFAULT_USERS } from '../../policy/authoring/invariants/check.js';
import {
  readPolicySources,
  type PolicySources,
  type SourceFile,
} from '../../policy/policy-files.js';
import { formatProblem, policyLimitProblems, type PolicyProblem } from '../../policy/policy-set.js';
import { SCHEMA_FILE } from '../../policy/schema.js';
import { requestOfQuestion, type Question, type QuestionUser } from '../../policy/question.js';
import type { AuthzRequest, UsersAction } from '../../policy/types.js';
import { RESOURCE_KIND_OF } from '../../policy/types.js';
import {
  IsolatedEngineError,
  runIsolated,
  type IsolationLimits,
} from '../authz/isolated-engine.js';
import type { PolicyStore } from '../authz/policy-store.js';
import type { CheckJob, CheckResult } from './playground-check-worker.js';
import { createJobRunner, type JobKind, type JobRunner } from './playground-jobs.js';

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
  /** `invariants.yaml` beside the live set (what the check uses by default), or null. */
  invariants: SourceFile | null;
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

/** What the page asks of a check: the invariants' text (default: the file beside the live set). */
export interface CheckQuestion {
  invariants?: string;
  /** Users of the explored tenant, the owner counted (default 4, as `policy check`). */
  users?: number;
}

export interface Playground {
  live(): Promise<LiveSources>;
  decide(edited: PlaygroundSources, request: PlaygroundRequest): Promise<DecideAnswer>;
  validate(edited: PlaygroundSources): Promise<{ ok: boolean; problems: PolicyProblem[] }>;
  /** `maxRequests` as `policy diff`'s own (DEFAULT_MAX_REQUESTS) gives the CLI's counts. */
  diff(edited: PlaygroundSources, maxRequests: number): Promise<DiffAnswer>;
  check(edited: PlaygroundSources, question: CheckQuestion): Promise<CheckResult>;
  close(): Promise<void>;
}

/** The diff's report (what `policy diff --json` prints) and its sections as the CLI tells them. */
export type DiffAnswer =
  { ok: true; report: DiffReport; view: DiffSections } | { ok: false; problems: PolicyProblem[] };

export interface PlaygroundOptions {
  policies: PolicyStore;
  policyDir: string;
  /** A diff running longer than this is stopped (503); default 60 s. */
  diffTimeoutMs?: number;
  /** A check running longer than this is stopped (503); default 60 s. */
  checkTimeoutMs?: number;
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
/** The invariants the check reads beside the live set when the page sends none. */
export const INVARIANTS_FILE = 'invariants.yaml';
const FACT_IDS = {
  principal: 'PRINCIPAL',
  target: 'TARGET',
  tenant: 'TENANT',
  other: 'OTHER-TENANT',
};

export function createPlayground(options: PlaygroundOptions): Playground {
  const jobs = createJobRunner();
  const kinds = jobKindsOf(options);
  return {
    live: () => liveSources(options),
    decide: (edited, request) => decideBoth(options, edited, request),
    validate: (edited) => validateCopy(edited),
    diff: (edited, maxRequests) => diffCopy(options, jobs, kinds.diff, edited, maxRequests),
    check: (edited, question) => checkCopy(options, jobs, kinds.check, edited, question),
    close: () => jobs.close(),
  };
}

function jobKindsOf(options: PlaygroundOptions): { diff: JobKind; check: JobKind } {
  return {
    diff: {
      module: new URL('./playground-diff-worker.js', import.meta.url),
      name: 'the policy diff',
      timeoutMs: options.diffTimeoutMs ?? 60_000,
    },
    check: {
      module: new URL('./playground-check-worker.js', import.meta.url),
      name: 'the invariants check',
      timeoutMs: options.checkTimeoutMs ?? 60_000,
      maxMemoryMb: 1024,
    },
  };
}

/** The live set's texts as on disk, and its invariants file when there is one. */
async function liveSources({ policies, policyDir }: PlaygroundOptions): Promise<LiveSources> {
  const sources = await readPolicySources(policyDir);
  const invariants = await readInvariants(policyDir);
  return {
    schema: sources.schema?.text ?? '',
    files: sources.policies,
    version: policies.current().version,
    in_force: sources.version === policies.current().version,
    invariants: invariants === null ? null : { file: INVARIANTS_FILE, text: invariants },
  };
}

async function readInvariants(policyDir: string): Promise<string | null> {
  return readFile(join(policyDir, INVARIANTS_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/** One request by the live set (the store) and by the edited copy (an isolated engine). */
async function decideBoth(
  options: PlaygroundOptions,
  edited: PlaygroundSources,
  request: PlaygroundRequest,
): Promise<DecideAnswer> {
  const authz = authzRequestOf(request);
  const sources = checkedSources(edited);
  const { policies, policyDir } = options;
  const explanation = explainDecision(policyDir, policies.current(), authz, policies.decide(authz));
  const liveAnswer: SideAnswer = { ok: true, explanation: await traced(options, explanation) };
  const result = await isolated({ kind: 'decide', dir: EDITED_DIR, sources, request: authz });
  if (!result.ok) return { live: liveAnswer, edited: result };
  if (result.kind !== 'decide') throw new Error(`isolated engine answered ${result.kind}`);
  return { live: liveAnswer, edited: { ok: true, explanation: result.explanation } };
}

/**
 * A live default deny, traced in the isolated engine over the texts of the set in force: the
 * store keeps them, since the files on disk may have changed since (a reload pending or refused).
 */
async function traced(
  { policies, policyDir }: PlaygroundOptions,
  e: Explanation,
): Promise<Explanation> {
  if (e.decision !== 'deny' || e.policies.length > 0) return e;
  const sources = policies.sources?.() ?? (await readPolicySources(policyDir));
  if (sources.version !== e.version) return e;
  const r = await isolated({ kind: 'decide', dir: policyDir, sources, request: e.request });
  if (!r.ok || r.kind !== 'decide' || r.explanation.unmet === undefined) return e;
  return { ...e, unmet: r.explanation.unmet, unanalysed: r.explanation.unanalysed ?? [] };
}

async function validateCopy(
  edited: PlaygroundSources,
): Promise<{ ok: boolean; problems: PolicyProblem[] }> {
  const sources = checkedSources(edited);
  const result = await isolated({ kind: 'validate', dir: EDITED_DIR, sources });
  if (!result.ok) return { ok: false, problems: result.problems };
  if (result.kind !== 'validate') throw new Error(`isolated engine answered ${result.kind}`);
  return { ok: true, problems: result.warnings };
}

/** `policy diff` of the live set's files (base) and the copy (candidate), in its worker. */
async function diffCopy(
  { policyDir }: PlaygroundOptions,
  jobs: JobRunner,
  kind: JobKind,
  edited: PlaygroundSources,
  maxRequests: number,
): Promise<DiffAnswer> {
  const checked = checkedSources(edited);
  return jobs.exclusive(kind, async () => {
    const built = await isolated({ kind: 'validate', dir: EDITED_DIR, sources: checked });
    if (!built.ok) return built;
    const base = await readPolicySources(policyDir);
    const job: DiffJob = { base, candidate: sourcesOf(edited), maxRequests };
    const result = await jobs.run<DiffResult>(kind, job);
    return result.ok ? { ...result, view: diffSections(result.report) } : result;
  });
}

/** `policy check` of the copy against the page's invariants (or the file beside the live set). */
async function checkCopy(
  { policyDir }: PlaygroundOptions,
  jobs: JobRunner,
  kind: JobKind,
  edited: PlaygroundSources,
  question: CheckQuestion,
): Promise<CheckResult> {
  const checked = checkedSources(edited);
  const invariants = question.invariants ?? (await readInvariants(policyDir));
  if (invariants === null) {
    throw new InvalidInputError(
      `no ${INVARIANTS_FILE} beside the live set: send the invariants' YAML as "invariants"`,
      { details: { field: 'invariants' } },
    );
  }
  return jobs.exclusive(kind, async () => {
    const built = await isolated({ kind: 'validate', dir: EDITED_DIR, sources: checked });
    if (!built.ok) return built;
    const job: CheckJob = {
      sources: checked,
      invariantsFile: INVARIANTS_FILE,
      invariants,
      users: question.users ?? DEFAULT_USERS,
    };
    return jobs.run<CheckResult>(kind, job);
  });
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
