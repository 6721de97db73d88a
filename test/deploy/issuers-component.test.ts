/**
 * k8s/components/issuers (docs/identity.md): ISSUERS_FILE mounted from a ConfigMap into the
 * sidecar's container, on both layouts — the sidecar component in front of someone else's service
 * (k8s/examples/several-issuers) and the full k8s/ — rendered offline with `kubectl kustomize` and
 * validated against the Kubernetes schemas. What must hold: the variable names a file that the
 * mounted ConfigMap really holds, the mount can see the ConfigMap's updates (hot reload), the
 * single-issuer variables the file excludes are gone, and no other container is touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, sep } from 'node:path';
import { parse } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IContainer } from 'kubernetes-models/v1';
import { isIdShaped } from '../../src/common/ids.js';
import { parseIssuersFile } from '../../src/sidecar/authn/issuers-file.js';
import { repoRoot } from '../helpers/process.js';
import {
  containerEnv,
  named,
  objectsOf,
  podSpecOf,
  renderKustomization,
  skipWithoutKubectl,
  validateObject,
  type K8sObject,
  type RenderResult,
} from './k8s-render.js';

const componentDir = join(repoRoot, 'k8s', 'components', 'issuers');
const exampleDir = join(repoRoot, 'k8s', 'examples', 'several-issuers');

/** The variables ISSUERS_FILE excludes: both set stops the sidecar at start. */
const SINGLE_ISSUER = ['JWKS_URL', 'JWKS_FILE', 'JWT_ISSUER', 'JWT_AUDIENCE'];

/**
 * The full k8s/ with the component: an overlay in a temporary directory (kustomize takes only
 * relative paths, and refuses a component the overlay's root does not reach by a path).
 */
function renderFullLayoutWithComponent(): RenderResult {
  const dir = mkdtempSync(join(tmpdir(), 'cedargate-issuers-overlay-'));
  try {
    const up = (to: string) => relative(dir, to).split(sep).join(posix.sep);
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${up(join(repoRoot, 'k8s'))}`,
        'components:',
        `  - ${up(componentDir)}`,
        '',
      ].join('\n'),
    );
    return renderKustomization(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const example = renderKustomization(exampleDir);
const full = renderFullLayoutWithComponent();
const skip = skipWithoutKubectl(example, 'the issuers component tests');

function containerOf(objects: K8sObject[], deployment: string, name: string): IContainer {
  const c = podSpecOf(named<IDeployment>(objects, 'Deployment', deployment)).containers.find(
    (x) => x.name === name,
  );
  assert.ok(c, `Deployment ${deployment} has no "${name}" container`);
  return c;
}

/**
 * The file ISSUERS_FILE names, read from the ConfigMap mounted at its directory: fails when the
 * variable points anywhere no ConfigMap key is mounted, or through a mount that cannot see updates.
 */
function mountedIssuersFile(objects: K8sObject[], deployment: string, name: string): string {
  const c = containerOf(objects, deployment, name);
  const path = containerEnv(c, objects)['ISSUERS_FILE'];
  assert.ok(path !== undefined, `${name}: ISSUERS_FILE is set`);
  const dir = posix.dirname(path);
  const mount = c.volumeMounts?.find((m) => m.mountPath === dir);
  assert.ok(mount, `${name}: a volume is mounted at ${dir}, the directory of ISSUERS_FILE`);
  assert.equal(mount.subPath, undefined, 'no subPath: a subPath mount never sees an update');
  assert.equal(mount.readOnly, true, 'the sidecar only reads it');
  const volume = podSpecOf(named<IDeployment>(objects, 'Deployment', deployment)).volumes?.find(
    (v) => v.name === mount.name,
  );
  const cmName = volume?.configMap?.name;
  assert.ok(cmName !== undefined, `volume ${mount.name} is a ConfigMap`);
  const cm = named<IConfigMap>(objects, 'ConfigMap', cmName);
  const file = cm.data?.[posix.basename(path)];
  assert.ok(file !== undefined, `ConfigMap ${cmName} holds ${posix.basename(path)}`);
  return file;
}

test('the example overlay renders and every object validates', { skip }, () => {
  const all = objectsOf(example);
  for (const obj of all) validateObject(obj);
  const issuers = named<IConfigMap>(all, 'ConfigMap', 'cedargate-issuers');
  assert.equal(
    issuers.metadata?.name,
    'cedargate-issuers',
    'no name hash: kubectl apply updates it in place and the sidecar hot-reloads it',
  );
});

test(
  'ISSUERS_FILE names the file mounted from the ConfigMap, the shipped example',
  { skip },
  () => {
    const file = mountedIssuersFile(objectsOf(example), 'your-users-service', 'cedargate');
    assert.equal(file, readFileSync(join(componentDir, 'issuers.yaml'), 'utf8'));
  },
);

test(
  'the single-issuer variables are gone from the sidecar, its other settings kept',
  { skip },
  () => {
    const all = objectsOf(example);
    const env = containerEnv(containerOf(all, 'your-users-service', 'cedargate'), all);
    for (const name of SINGLE_ISSUER) assert.equal(env[name], undefined, `${name} is not set`);
    assert.equal(env['UPSTREAM_URL'], 'http://127.0.0.1:3000', 'the overlay settings are kept');
    assert.equal(env['TENANT_CLAIM'], 'tenant_id', 'the default tenant claim stays');

    // Without the component the same overlay is single-issuer: what the test above relies on.
    const before = objectsOf(
      renderKustomization(join(repoRoot, 'k8s/examples/your-users-service')),
    );
    const single = containerEnv(containerOf(before, 'your-users-service', 'cedargate'), before);
    assert.ok(single['JWT_ISSUER'] !== undefined && single['ISSUERS_FILE'] === undefined);
  },
);

test("the users service's own container is left as it was", { skip }, () => {
  const all = objectsOf(example);
  const own = containerOf(all, 'your-users-service', 'users-service');
  assert.equal(containerEnv(own, all)['ISSUERS_FILE'], undefined);
  assert.ok(!(own.volumeMounts ?? []).some((m) => m.name === 'cedargate-issuers'));
});

test('on the full k8s/ the sidecar container gets it, the backend does not', { skip }, () => {
  const all = objectsOf(full);
  for (const obj of all) validateObject(obj);
  const file = mountedIssuersFile(all, 'cedargate', 'sidecar');
  assert.equal(file, readFileSync(join(componentDir, 'issuers.yaml'), 'utf8'));
  const sidecar = containerEnv(containerOf(all, 'cedargate', 'sidecar'), all);
  for (const name of SINGLE_ISSUER) assert.equal(sidecar[name], undefined, `${name} is not set`);
  const backend = containerOf(all, 'cedargate', 'backend');
  assert.equal(containerEnv(backend, all)['ISSUERS_FILE'], undefined);
  assert.ok(!(backend.volumeMounts ?? []).some((m) => m.name === 'cedargate-issuers'));
  assert.equal(podSpecOf(named<IDeployment>(all, 'Deployment', 'cedargate')).containers.length, 2);
});

test("the example issuers.yaml has the issue's shape", { skip }, () => {
  const text = readFileSync(join(componentDir, 'issuers.yaml'), 'utf8');
  // The sidecar's own reader takes it (it refuses unknown fields and bad values)...
  const parsed = parseIssuersFile(text, 'issuers.yaml', {
    tenantClaim: 'tenant_id',
    userClaim: 'sub',
    timeoutMs: 2000,
    cooldownMs: 30000,
  });
  assert.ok(parsed.length > 0);
  // ...and the example shows what a deployment should write.
  const doc = parse(text) as { issuers: Record<string, unknown>[] };
  assert.ok(Array.isArray(doc.issuers) && doc.issuers.length > 0);
  const seen = new Set<string>();
  for (const entry of doc.issuers) {
    const issuer = String(entry['issuer']);
    assert.match(issuer, /^https:\/\//, issuer);
    assert.ok(!seen.has(issuer), `${issuer} listed once`);
    seen.add(issuer);
    const audience = ([] as unknown[]).concat(entry['audience']);
    assert.ok(audience.length > 0 && audience.every((a) => typeof a === 'string' && a !== ''));
    const tenants = entry['tenants'] as string[];
    assert.ok(Array.isArray(tenants) && tenants.length > 0, `${issuer}: tenants`);
    const any = tenants.length === 1 && tenants[0] === '*';
    if (!any) for (const t of tenants) assert.ok(isIdShaped(t), `${issuer}: tenant ${t}`);
    const map = (entry['tenant_map'] ?? {}) as Record<string, string>;
    for (const [claimValue, t] of Object.entries(map)) {
      assert.ok(isIdShaped(t), `${issuer}: ${claimValue} maps to a tenant id`);
      assert.ok(any || tenants.includes(t), `${issuer}: ${t} is one of its tenants`);
    }
  }
});
