import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_AVATAR_BYTES,
  checkRoles,
  validateEmail,
  validateNewUser,
  validateTenantName,
  validateUserPatch,
} from '../../../src/common/validate.js';
import { CedargateError, InvalidRolesError } from '../../../src/errors.js';

const PNG_1PX =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

/** The base64 data of real images of each type (their headers: the magic bytes and after). */
const IMAGE_DATA = {
  png: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  // JFIF: FF D8 FF E0 ... "JFIF"
  jpeg: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA==',
  // GIF89a and GIF87a, 1x1
  gif: 'R0lGODlhAQABAAAAACw=',
  gif87a: 'R0lGODdhAQABAAAAACw=',
  // RIFF <size> WEBP VP8L, 1x1 lossless
  webp: 'UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==',
} as const;

/** The error a call throws, as [code, details.field]. */
function failure(fn: () => unknown): [string, unknown] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CedargateError, `expected a contract error, got ${String(err)}`);
    return [err.code, err.details?.['field']];
  }
  assert.fail('expected an error');
}

/** A data URI of exactly `total` characters. */
function avatarOfLength(total: number): string {
  const prefix = 'data:image/png;base64,';
  const dataLength = Math.floor((total - prefix.length) / 4) * 4;
  // A PNG signature and four zero bytes (16 characters), then filler.
  const uri = prefix + 'iVBORw0KGgoAAAAA' + 'QUJD'.repeat(dataLength / 4 - 4);
  assert.equal(uri.length, total, 'pick a total with (total - prefix) % 4 === 0');
  return uri;
}

const valid = { name: 'Ada', email: 'ada@example.com', roles: ['user'] };

describe('validateNewUser', () => {
  it('normalizes: trims the name, lower-cases the email, defaults provider and avatar', () => {
    assert.deepEqual(
      validateNewUser({ name: '  Ada L. ', email: 'Ada@Example.COM', roles: ['user', 'viewer'] }),
      {
        name: 'Ada L.',
        email: 'ada@example.com',
        roles: ['user', 'viewer'],
        auth_provider: 'local',
        avatar: null,
      },
    );
  });

  it('keeps auth_provider and avatar when given', () => {
    const u = validateNewUser({
      ...valid,
      auth_provider: 'oidc:google',
      avatar: PNG_1PX,
      roles: [],
    });
    assert.equal(u.auth_provider, 'oidc:google');
    assert.equal(u.avatar, PNG_1PX);
    assert.deepEqual(u.roles, []);
  });

  it('requires name, email and roles', () => {
    assert.deepEqual(
      failure(() => validateNewUser({ email: 'a@b.co', roles: [] })),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ name: 'a', roles: [] })),
      ['invalid_input', 'email'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ name: 'a', email: 'a@b.co' })),
      ['invalid_input', 'roles'],
    );
  });

  it('refuses unknown fields, naming them', () => {
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, is_owner: true })),
      ['invalid_input', 'is_owner'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, id: 'x' })),
      ['invalid_input', 'id'],
    );
  });

  it('checks types', () => {
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, name: 5 })),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, email: ['a@b.co'] })),
      ['invalid_input', 'email'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, roles: 'user' })),
      ['invalid_input', 'roles'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, roles: [1] })),
      ['invalid_input', 'roles'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, auth_provider: 3 })),
      ['invalid_input', 'auth_provider'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, avatar: 3 })),
      ['invalid_input', 'avatar'],
    );
  });

  it('bounds the name: 1 to 256 characters after trimming, no control characters', () => {
    assert.equal(validateNewUser({ ...valid, name: 'é'.repeat(256) }).name.length, 256);
    assert.equal(validateNewUser({ ...valid, name: '😀'.repeat(256) }).name, '😀'.repeat(256));
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, name: 'a'.repeat(257) })),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, name: '   ' })),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, name: '' })),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, name: 'a\u0000b' })),
      ['invalid_input', 'name'],
    );
  });

  it('refuses duplicate roles with 400 (not 422)', () => {
    assert.deepEqual(
      failure(() => validateNewUser({ ...valid, roles: ['user', 'user'] })),
      ['invalid_input', 'roles'],
    );
  });

  it('does not judge role names: that is checkRoles', () => {
    assert.deepEqual(validateNewUser({ ...valid, roles: ['superuser'] }).roles, ['superuser']);
  });
});

describe('validateEmail', () => {
  it('accepts ordinary addresses', () => {
    for (const e of [
      'a@b.co',
      'first.last+tag@sub.example.org',
      "o'neil@example.ie",
      'x_y-z@a-b.example',
    ]) {
      assert.equal(validateEmail(e), e.toLowerCase());
    }
  });

  it('refuses what is not an address', () => {
    for (const e of [
      '',
      'a',
      'a@',
      '@b.co',
      'a@b',
      'a@@b.co',
      'a b@c.co',
      '.a@b.co',
      'a.@b.co',
      'a..b@c.co',
      'a@-b.co',
      'a@b-.co',
      'a@b..co',
      '"a"@b.co',
      'a@[127.0.0.1]',
      'ä@b.co',
      `${'a'.repeat(65)}@b.co`,
      `a@${'b'.repeat(250)}.co`,
      'a@b.co\n',
    ]) {
      assert.deepEqual(
        failure(() => validateEmail(e)),
        ['invalid_input', 'email'],
        JSON.stringify(e),
      );
    }
  });
});

describe('avatar', () => {
  it('accepts null and each allowed image type', () => {
    assert.equal(validateUserPatch({ avatar: null }).avatar, null);
    for (const [type, data] of Object.entries(IMAGE_DATA)) {
      const uri = `data:image/${type.replace('gif87a', 'gif')};base64,${data}`;
      assert.equal(validateUserPatch({ avatar: uri }).avatar, uri, type);
    }
  });

  it('refuses bytes that are not the declared type with 400 (magic bytes)', () => {
    const types = ['png', 'jpeg', 'gif', 'webp'] as const;
    for (const declared of types) {
      for (const actual of types) {
        if (actual === declared) continue;
        const avatar = `data:image/${declared};base64,${IMAGE_DATA[actual]}`;
        assert.deepEqual(
          failure(() => validateUserPatch({ avatar })),
          ['invalid_input', 'avatar'],
          `${actual} bytes declared as ${declared}`,
        );
      }
    }
    const b64 = (bytes: readonly number[] | string) =>
      (typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes)).toString(
        'base64',
      );
    for (const [declared, bytes] of [
      ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a]], // one byte short of the signature
      ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0b]],
      ['jpeg', [0xff, 0xd8]],
      ['jpeg', [0xff, 0xd9, 0xff, 0xe0]],
      ['gif', 'GIF88a\x01\x00'],
      ['gif', 'GIF8'],
      ['webp', 'RIFF\x1a\x00\x00\x00WAVEfmt '], // RIFF, but audio
      ['webp', 'RIFF\x1a\x00\x00\x00WEB'],
      ['png', '<html><script>alert(1)</script></html>'],
      ['png', [0, 0, 0, 0]],
    ] as const) {
      const avatar = `data:image/${declared};base64,${b64(bytes)}`;
      assert.deepEqual(
        failure(() => validateUserPatch({ avatar })),
        ['invalid_input', 'avatar'],
        avatar,
      );
    }
  });

  it('accepts exactly 256 KiB and refuses one byte more with 413', () => {
    const max = avatarOfLength(MAX_AVATAR_BYTES - 2);
    assert.equal(validateUserPatch({ avatar: max }).avatar, max);
    assert.deepEqual(
      failure(() => validateUserPatch({ avatar: `${max}AAA` })),
      ['payload_too_large', 'avatar'],
    );
    assert.deepEqual(
      failure(() => validateUserPatch({ avatar: 'x'.repeat(MAX_AVATAR_BYTES + 1) })),
      ['payload_too_large', 'avatar'],
    );
  });

  it('refuses a malformed data URI or base64 with 400', () => {
    for (const avatar of [
      '',
      'iVBORw0KGgo=',
      'data:image/svg+xml;base64,PHN2Zz4=',
      'data:image/png,iVBORw0KGgo=',
      'data:image/png;base64,',
      'data:image/png;base64,abc',
      'data:image/png;base64,ab=c',
      'data:image/png;base64,a===',
      'data:image/png;base64,ab cd',
      'data:image/png;base64,abc_',
      'DATA:IMAGE/PNG;BASE64,abcd',
      'https://example.com/a.png',
    ]) {
      assert.deepEqual(
        failure(() => validateUserPatch({ avatar })),
        ['invalid_input', 'avatar'],
        avatar,
      );
    }
  });
});

describe('well-formed Unicode (security.md 33)', () => {
  const lone = ['\ud800', '\udfff', 'a\ud83d', '\ude00b'];

  it('refuses a lone surrogate in a name, an email or a role with 400, naming the field', () => {
    for (const bad of lone) {
      const what = JSON.stringify(bad);
      assert.deepEqual(
        failure(() => validateNewUser({ ...valid, name: `Ada${bad}` })),
        ['invalid_input', 'name'],
        what,
      );
      // 255 characters and one lone surrogate: within the length bound, still refused
      assert.deepEqual(
        failure(() => validateUserPatch({ name: `${'a'.repeat(255)}${bad}` })),
        ['invalid_input', 'name'],
        what,
      );
      assert.deepEqual(
        failure(() => validateNewUser({ ...valid, email: `ada${bad}@example.com` })),
        ['invalid_input', 'email'],
        what,
      );
      assert.deepEqual(
        failure(() => validateUserPatch({ roles: ['user', `viewer${bad}`] })),
        ['invalid_input', 'roles'],
        what,
      );
      assert.deepEqual(
        failure(() => validateTenantName(`Acme${bad}`)),
        ['invalid_input', 'name'],
      );
    }
  });

  it('accepts surrogate pairs (astral characters) and counts each as one character', () => {
    const name = '\u{1F600}'.repeat(256);
    assert.equal(validateUserPatch({ name }).name, name);
    assert.deepEqual(
      failure(() => validateUserPatch({ name: name + 'x' })),
      ['invalid_input', 'name'],
    );
  });
});

describe('validateUserPatch', () => {
  it('takes any non-empty subset of name, roles, avatar', () => {
    assert.deepEqual(validateUserPatch({ name: ' B ' }), { name: 'B' });
    assert.deepEqual(validateUserPatch({ roles: ['admin'] }), { roles: ['admin'] });
    assert.deepEqual(validateUserPatch({ name: 'B', roles: [], avatar: null }), {
      name: 'B',
      roles: [],
      avatar: null,
    });
  });

  it('needs at least one field', () => {
    assert.deepEqual(
      failure(() => validateUserPatch({})),
      ['invalid_input', 'body'],
    );
  });

  it('refuses fields PUT cannot change', () => {
    assert.deepEqual(
      failure(() => validateUserPatch({ email: 'a@b.co' })),
      ['invalid_input', 'email'],
    );
    assert.deepEqual(
      failure(() => validateUserPatch({ name: 'a', is_owner: true })),
      ['invalid_input', 'is_owner'],
    );
    assert.deepEqual(
      failure(() => validateUserPatch({ name: 'a', auth_provider: 'x' })),
      ['invalid_input', 'auth_provider'],
    );
  });

  it('refuses duplicate roles', () => {
    assert.deepEqual(
      failure(() => validateUserPatch({ roles: ['admin', 'admin'] })),
      ['invalid_input', 'roles'],
    );
  });
});

describe('checkRoles', () => {
  const allowed = ['admin', 'user', 'viewer'];

  it('passes known roles and an empty set', () => {
    assert.doesNotThrow(() => checkRoles(['admin', 'viewer'], allowed));
    assert.doesNotThrow(() => checkRoles([], allowed));
  });

  it('throws 422 invalid_roles listing the invalid and the allowed roles', () => {
    assert.throws(
      () => checkRoles(['user', 'root', 'Admin'], allowed),
      (err: unknown) =>
        err instanceof InvalidRolesError &&
        err.status === 422 &&
        err.code === 'invalid_roles' &&
        JSON.stringify(err.details) === JSON.stringify({ invalid: ['root', 'Admin'], allowed }),
    );
  });
});

describe('validateTenantName', () => {
  it('trims and bounds like a user name', () => {
    assert.equal(validateTenantName('  Acme '), 'Acme');
    assert.deepEqual(
      failure(() => validateTenantName('')),
      ['invalid_input', 'name'],
    );
    assert.deepEqual(
      failure(() => validateTenantName('x'.repeat(257))),
      ['invalid_input', 'name'],
    );
  });
});
