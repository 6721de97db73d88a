/**
 * What a playground page may send, checked: the request form's facts, the edited copy's texts,
 * and a check's invariants and tenant size. Anything else is a 400 `invalid_input` naming the
 * field, before any engine sees it.
 */
import { InvalidInputError } from '../../errors.js';
import { MAX_USERS } from '../../policy/authoring/invariants/check.js';
import type { SourceFile } from '../../policy/policy-files.js';
import type { UsersAction } from '../../policy/types.js';
import { USERS_ACTIONS } from '../../policy/types.js';
import type { CheckQuestion, PlaygroundRequest, PlaygroundSources } from './playground.js';

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

/** A check's `invariants` (YAML text, optional) and `users` (1 to 6, optional). */
export function parseCheckQuestion(body: Record<string, unknown>): CheckQuestion {
  const question: CheckQuestion = {};
  const { invariants, users } = body;
  if (invariants !== undefined) {
    if (typeof invariants !== 'string') {
      throw invalid('invariants', 'must be the YAML text of an invariants file');
    }
    question.invariants = invariants;
  }
  if (users !== undefined) {
    if (!Number.isInteger(users) || (users as number) < 1 || (users as number) > MAX_USERS) {
      throw invalid('users', `must be an integer from 1 to ${MAX_USERS}`);
    }
    question.users = users as number;
  }
  return question;
}
