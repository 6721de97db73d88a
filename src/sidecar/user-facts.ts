/**
 * The sidecar's picture of a user: what its decisions read, as checked from the backend's answer
 * (src/sidecar/upstream.ts converts it) and kept by the directory.
 */

/**
 * What the sidecar's decisions read about a user, and nothing more: a user's avatar can be
 * 256 KiB, and the directory holds thousands of users. The avatar is kept as its digest, which
 * is all `avatarChanges` needs.
 */
export interface UserFacts {
  id: string;
  tenant_id: string;
  /** The update context compares names (`nameChanges`). */
  name: string;
  roles: string[];
  is_owner: boolean;
  /** SHA-256 of the avatar (base64url), or null when the user has none. */
  avatar_digest: string | null;
}

/** A user as the backend knows it now, with the ETag that names this version. */
export interface UserRecord {
  user: UserFacts;
  etag: string;
}
