import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  TRUST_SECRET_FILE,
  UntrustedRequestError,
  assertTrusted,
  isTrusted,
  resolveTrustSecret,
} from '../../../src/common/trust.js';
import { errorResponse } from '../../../src/errors.js';
import { tempDir } from '../../helpers/process.js';

const dirs: { remove(): void }[] = [];
after(() => dirs.forEach((d) => d.remove()));
function fresh(): string {
  const d = tempDir('cedargate-trust-');
  dirs.push(d);
  return join(d.path, 'data');
}

describe('resolveTrustSecret', () => {
  it('prefers the configured secret and writes nothing', () => {
    const dataDir = fresh();
    assert.equal(
      resolveTrustSecret({ trustSecret: 'configured-secret-123', dataDir }),
      'configured-secret-123',
    );
    assert.throws(() => statSync(dataDir));
  });

  it('creates DATA_DIR/trust-secret once: 32 random bytes in hex, mode 0600, stable after', () => {
    const dataDir = fresh();
    const first = resolveTrustSecret({ trustSecret: undefined, dataDir });
    assert.match(first, /^[0-9a-f]{64}$/);
    const path = join(dataDir, TRUST_SECRET_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(resolveTrustSecret({ trustSecret: undefined, dataDir }), first);
    assert.deepEqual(readdirSync(dataDir), [TRUST_SECRET_FILE], 'no temp files left behind');
  });

  it('refuses a secret file that is too short', () => {
    const dataDir = fresh();
    resolveTrustSecret({ trustSecret: undefined, dataDir });
    writeFileSync(join(dataDir, TRUST_SECRET_FILE), 'short\n');
    assert.throws(() => resolveTrustSecret({ trustSecret: undefined, dataDir }), /shorter than 16/);
  });

  it('gives processes racing on a fresh DATA_DIR the same secret', async () => {
    const dataDir = fresh();
    const module = fileURLToPath(new URL('../../../src/common/trust.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then((m) => process.stdout.write(m.resolveTrustSecret({ dataDir: ${JSON.stringify(dataDir)} })))`;
    const outputs = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['-e', script], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('exit', (code) =>
              code === 0 ? resolve(out) : reject(new Error(`exit ${code}`)),
            );
          }),
      ),
    );
    assert.equal(new Set(outputs).size, 1, 'every process read the same secret');
    assert.equal(outputs[0], readFileSync(join(dataDir, TRUST_SECRET_FILE), 'utf8').trim());
  });
});

describe('isTrusted', () => {
  const secret = 'a-long-enough-shared-secret';

  it('accepts exactly the secret', () => {
    assert.equal(isTrusted(secret, secret), true);
  });

  it('refuses anything else, repeated headers included', () => {
    for (const value of [
      undefined,
      '',
      'a-long-enough-shared-secreT',
      `${secret} `,
      `${secret}, ${secret}`,
    ]) {
      assert.equal(isTrusted(value, secret), false, String(value));
    }
    assert.equal(isTrusted([secret, secret], secret), false);
    assert.equal(isTrusted([secret], secret), false);
  });

  it('answers an untrusted request with 401 unauthenticated naming the sidecar', () => {
    assert.throws(() => assertTrusted('nope', secret), UntrustedRequestError);
    const { status, body } = errorResponse(new UntrustedRequestError());
    assert.equal(status, 401);
    assert.equal(body.code, 'unauthenticated');
    assert.equal(body.message, 'requests must come through the cedargate sidecar');
  });
});
