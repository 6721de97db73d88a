/**
 * Body validation, in one place for the backend, the sidecar and `tenant create`.
 *
 * Two steps, because the contract (§4) orders the checks body (400/413) → target user (404) →
 * roles (422): `validateNewUser` / `validateUserPatch` judge the SHAPE of a body and may run
 * before the target is looked up; `checkRoles` judges role names against the schema's `Role`
 * enum and runs after.
 *
 * Every string must be well-formed Unicode: JSON's `\ud800` escape yields a lone surrogate, which
 * has no UTF-8 form, so a store would keep and return it altered instead of refusing it.
 *
 * Emails are stored lower-cased: uniqueness per tenant is case-insensitive, and keeping one
 * spelling means every store (SQLite, Redis) compares the same strings. We accept the common
 * dot-atom form (no quoted local parts, no IP-literal domains) in ASCII.
 */
import { InvalidInputError, InvalidRolesError, PayloadTooLargeError } from '../errors.js';
import { roleSetOf } from './role-set.js';
import type { NewUser, UserPatch } from './user.js';

/** Longest name, in characters (code points), after trimming. */
export const MAX_NAME_CHARS = 256;
/** Largest avatar: the whole data URI string, in bytes (it is ASCII). */
export const MAX_AVATAR_BYTES = 256 * 1024;
/** More roles than any sane user holds; keeps error details small. */
export const MAX_ROLES = 64;
export const DEFAULT_AUTH_PROVIDER = 'local';

const NEW_USER_FIELDS = new Set(['name', 'email', 'roles', 'auth_provider', 'avatar']);
const PATCH_FIELDS = new Set(['name', 'roles', 'avatar']);

// eslint-disable-next-line no-control-regex -- control characters are what we refuse in names
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const EMAIL_LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const EMAIL_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const AVATAR_PREFIX = /^data:image\/(png|jpeg|gif|webp);base64,/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const AUTH_PROVIDER = /^[A-Za-z0-9._:-]{1,64}$/;

function invalid(field: string, message: string): InvalidInputError {
  return new InvalidInputError(message, { details: { field } });
}

/** `String.prototype.isWellFormed` (Node 20) is ES2024; the project's lib stops at ES2023. */
const isWellFormed = (value: string): boolean =>
  (value as string & { isWellFormed(): boolean }).isWellFormed();

function assertWellFormed(field: string, value: string): void {
  if (!isWellFormed(value)) {
    throw invalid(field, `${field} must be well-formed Unicode (it holds a lone surrogate)`);
  }
}

function rejectUnknownFields(obj: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.has(k));
  const first = unknown[0];
  if (first !== undefined) {
    throw new InvalidInputError(`unknown field(s): ${unknown.join(', ')}`, {
      details: { field: first, unknown },
    });
  }
}

/** A display name: a string, trimmed, 1–256 characters, no control characters. */
function validateName(value: unknown): string {
  if (typeof value !== 'string') throw invalid('name', 'name must be a string');
  assertWellFormed('name', value);
  const name = value.trim();
  const length = [...name].length;
  if (length < 1 || length > MAX_NAME_CHARS) {
    throw invalid('name', `name must be 1 to ${MAX_NAME_CHARS} characters after trimming`);
  }
  if (CONTROL.test(name)) throw invalid('name', 'name must not contain control characters');
  return name;
}

/** A tenant's name: the same rules as a user's name (trimmed, 1–256 characters). */
export function validateTenantName(value: unknown): string {
  return validateName(value);
}

/** An email address in dot-atom form, returned lower-cased. */
export function validateEmail(value: unknown): string {
  if (typeof value !== 'string') throw invalid('email', 'email must be a string');
  assertWellFormed('email', value);
  const email = value.toLowerCase();
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split('.');
  const ok =
    at > 0 &&
    email.length <= 254 &&
    local.length <= 64 &&
    EMAIL_LOCAL.test(local) &&
    labels.length >= 2 &&
    labels.every((l) => EMAIL_LABEL.test(l));
  if (!ok) throw invalid('email', 'email must be a valid address such as name@example.com');
  return email;
}

/** An array of unique strings. Whether they name roles is `checkRoles`'s business. */
function validateRoles(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('roles', 'roles must be an array of strings');
  if (value.length > MAX_ROLES) throw invalid('roles', `roles holds at most ${MAX_ROLES} entries`);
  const seen = new Set<string>();
  for (const role of value) {
    if (typeof role !== 'string' || role === '') {
      throw invalid('roles', 'roles must be an array of non-empty strings');
    }
    assertWellFormed('roles', role);
    if (seen.has(role)) {
      throw new InvalidInputError(`roles lists "${role}" twice`, {
        details: { field: 'roles', duplicate: role },
      });
    }
    seen.add(role);
  }
  return [...seen];
}

/**
 * null, or a `data:image/(png|jpeg|gif|webp);base64,` URI with real, canonical base64 whose bytes
 * start as the declared type does.
 * Larger than 256 KiB (the whole string) is 413, whatever else is wrong with it.
 */
function validateAvatar(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') throw invalid('avatar', 'avatar must be null or a data URI');
  if (value.length > MAX_AVATAR_BYTES) {
    throw new PayloadTooLargeError(`avatar is larger than ${MAX_AVATAR_BYTES} bytes`, {
      details: { field: 'avatar', limit: MAX_AVATAR_BYTES },
    });
  }
  const prefix = AVATAR_PREFIX.exec(value);
  if (prefix === null) {
    throw invalid('avatar', 'avatar must start with data:image/(png|jpeg|gif|webp);base64,');
  }
  const data = value.slice(prefix[0].length);
  if (data.length === 0 || !BASE64.test(data)) {
    throw invalid('avatar', 'avatar data must be non-empty, valid base64');
  }
  const type = prefix[1] as AvatarType;
  if (!avatarMatchesType(type, data)) {
    throw invalid('avatar', `avatar data is not a ${type} image: its first bytes do not match`);
  }
  return value;
}

type AvatarType = 'png' | 'jpeg' | 'gif' | 'webp';

/**
 * The magic bytes each declared type starts with (`null`: any byte), so an avatar is the image
 * its data URI says it is: a client that trusts the declared type must not be handed something
 * else (an HTML page or a script sniffed as one).
 */
const AVATAR_SIGNATURES: Readonly<Record<AvatarType, ReadonlyArray<ReadonlyArray<number | null>>>> =
  {
    png: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
    jpeg: [[0xff, 0xd8, 0xff]],
    gif: [ascii('GIF87a'), ascii('GIF89a')],
    // RIFF, four bytes of length, WEBP
    webp: [[...ascii('RIFF'), null, null, null, null, ...ascii('WEBP')]],
  };
/** Base64 characters enough for the longest signature (12 bytes). */
const SIGNATURE_CHARS = 16;

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/** Whether base64 `data` starts with one of the signatures of `type`. */
export function avatarMatchesType(type: AvatarType, data: string): boolean {
  const head = Buffer.from(data.slice(0, SIGNATURE_CHARS), 'base64');
  return AVATAR_SIGNATURES[type].some(
    (signature) =>
      head.length >= signature.length && signature.every((b, i) => b === null || head[i] === b),
  );
}

function validateAuthProvider(value: unknown): string {
  if (typeof value !== 'string' || !AUTH_PROVIDER.test(value)) {
    throw invalid('auth_provider', 'auth_provider must be 1 to 64 of A-Z a-z 0-9 . _ : -');
  }
  return value;
}

/**
 * The shape of a `POST /v1/users` body: `{name, email, roles, auth_provider?, avatar?}`.
 * Throws InvalidInputError (400, `details.field` names the field) or PayloadTooLargeError
 * (413, avatar). Returns the normalized user: name trimmed, email lower-cased,
 * `auth_provider` defaulted to "local", `avatar` defaulted to null.
 */
export function validateNewUser(obj: Record<string, unknown>): NewUser {
  rejectUnknownFields(obj, NEW_USER_FIELDS);
  for (const field of ['name', 'email', 'roles'] as const) {
    if (!Object.hasOwn(obj, field)) throw invalid(field, `${field} is required`);
  }
  return {
    name: validateName(obj['name']),
    email: validateEmail(obj['email']),
    roles: validateRoles(obj['roles']),
    auth_provider: Object.hasOwn(obj, 'auth_provider')
      ? validateAuthProvider(obj['auth_provider'])
      : DEFAULT_AUTH_PROVIDER,
    avatar: Object.hasOwn(obj, 'avatar') ? validateAvatar(obj['avatar']) : null,
  };
}

/**
 * The shape of a `PUT /v1/users/{id}` body: at least one of `name`, `roles` (the whole new
 * set), `avatar`. Same errors as {@link validateNewUser}; `email` is not updatable (400).
 */
export function validateUserPatch(obj: Record<string, unknown>): UserPatch {
  rejectUnknownFields(obj, PATCH_FIELDS);
  const patch: UserPatch = {};
  if (Object.hasOwn(obj, 'name')) patch.name = validateName(obj['name']);
  if (Object.hasOwn(obj, 'roles')) patch.roles = validateRoles(obj['roles']);
  if (Object.hasOwn(obj, 'avatar')) patch.avatar = validateAvatar(obj['avatar']);
  if (Object.keys(patch).length === 0) {
    throw new InvalidInputError('the body must set at least one of name, roles, avatar', {
      details: { field: 'body' },
    });
  }
  return patch;
}

/**
 * Every role must be named by the schema's `Role` enum: InvalidRolesError (422) with
 * `details.invalid` (in request order) and `details.allowed` otherwise.
 */
export function checkRoles(roles: readonly string[], allowed: readonly string[]): void {
  const known = roleSetOf(allowed);
  if (roles.every((r) => known.has(r))) return;
  const unknown = [...new Set(roles.filter((r) => !known.has(r)))];
  throw new InvalidRolesError(unknown, allowed);
}
