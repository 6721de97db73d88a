/**
 * k8s/components/sidecar, applied by k8s/examples/your-users-service to a Deployment that is not
 * ours: rendered offline with `kubectl kustomize`, every object validated against the Kubernetes
 * schemas, and the promises of docs/deployment.md kept — the user's container untouched, the
 * cedargate container added with a configuration the sidecar accepts, probes on its admin port,
 * the shipped policies mounted, and a Service port that reaches the sidecar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IContainer, IProbe, IService } from 'kubernetes-models/v1';
import { loadConfig } from '../../src/config.js';
import { repoRoot } from '../helpers/process.js';
import {
  containerEnv,
  named,
  objectsOf,
  ofKind,
  podSpecOf,
  renderKustomization,
  resolveContainerPort,
  skipWithoutKubectl,
  validateObject,
  type K8sObject,
} from './k8s-render.js';

const exampleDir = join(repoRoot, 'k8s', 'examples', 'your-users-service');
const rendered = renderKustomization(exampleDir);
const skip = skipWithoutKubectl(rendered, 'the sidecar component tests');
const objects = (): K8sObject[] => objectsOf(rendered);
const theirs = () => named<IDeployment>(objects(), 'Deployment', 'your-users-service');
function container(name: string): IContainer {
  const c = podSpecOf(theirs()).containers.find((x) => x.name === name);
  assert.ok(c, `your-users-service has no "${name}" container`);
  return c;
}
const sidecarEnv = () => containerEnv(container('cedargate'), objects());

test('the example overlay renders and every object validates', { skip }, () => {
  const all = objects();
  for (const obj of all) validateObject(obj);
  assert.deepEqual(
    all
      .map((o) => `${o.kind}/${(o.metadata?.name ?? '').replace(/-[a-z0-9]{10}$/, '-<hash>')}`)
      .sort(),
    [
      'ConfigMap/cedargate-policies',
      // Hashed: a change of the sidecar's settings rolls the pods.
      'ConfigMap/cedargate-sidecar-config-<hash>',
      'Deployment/your-users-service',
      'Secret/cedargate-trust',
      'Service/your-users-service',
    ],
  );
});

test(
  'the existing Deployment keeps its own container as it was, and gains cedargate',
  { skip },
  () => {
    const source = readFileSync(join(exampleDir, 'deployment.yaml'), 'utf8');
    const pod = podSpecOf(theirs());
    assert.deepEqual(pod.containers.map((c) => c.name).sort(), ['cedargate', 'users-service']);
    const own = container('users-service');
    assert.ok(source.includes(`image: ${own.image ?? ''}`), 'its image unchanged');
    assert.deepEqual(own.ports, [{ name: 'http', containerPort: 3000, protocol: 'TCP' }]);
    assert.equal(theirs().spec?.replicas, 2);
    assert.equal(pod.automountServiceAccountToken, false, 'the rest of its pod spec kept');
    assert.deepEqual(container('cedargate').args, ['sidecar']);
  },
);

test('the cedargate container starts: its environment is one the sidecar accepts', { skip }, () => {
  const env = sidecarEnv();
  const config = loadConfig('sidecar', env);
  const upstream = new URL(config.upstreamUrl);
  assert.equal(upstream.hostname, '127.0.0.1', 'the users service is reached inside the pod');
  assert.equal(
    Number(upstream.port),
    resolveContainerPort(container('users-service'), 'http'),
    'UPSTREAM_URL is the port the users service listens on',
  );
  // Both containers read the trust secret from the one Secret.
  assert.equal(
    env['TRUST_SECRET'],
    containerEnv(container('users-service'), objects())['TRUST_SECRET'],
  );
  assert.equal(resolveContainerPort(container('cedargate'), 'cedargate'), config.port);
  assert.equal(resolveContainerPort(container('cedargate'), 'cedargate-admin'), config.adminPort);
});

test('probes: started and alive on /healthz, ready on /readyz, on the admin port', { skip }, () => {
  const c = container('cedargate');
  const pathAndPort = (p: IProbe | undefined) => {
    const port = p?.httpGet?.port;
    assert.ok(port !== undefined, 'an httpGet probe');
    return [p?.httpGet?.path, resolveContainerPort(c, port)];
  };
  const admin = loadConfig('sidecar', sidecarEnv()).adminPort;
  assert.deepEqual(pathAndPort(c.startupProbe), ['/healthz', admin]);
  assert.deepEqual(pathAndPort(c.livenessProbe), ['/healthz', admin]);
  assert.deepEqual(pathAndPort(c.readinessProbe), ['/readyz', admin]);
});

test('the shipped policies are mounted where POLICY_DIR points', { skip }, () => {
  const c = container('cedargate');
  const env = sidecarEnv();
  const mount = c.volumeMounts?.find((m) => m.mountPath === env['POLICY_DIR']);
  assert.ok(mount, 'a mount at POLICY_DIR');
  assert.equal(mount.subPath, undefined, 'no subPath: edits must arrive to hot-reload');
  const volume = podSpecOf(theirs()).volumes?.find((v) => v.name === mount.name);
  const cm = named<IConfigMap>(objects(), 'ConfigMap', volume?.configMap?.name ?? '');
  const shipped = readdirSync(join(repoRoot, 'policies'))
    .filter((n) => n.endsWith('.cedar') || n === 'schema.cedarschema')
    .sort();
  assert.deepEqual(Object.keys(cm.data ?? {}).sort(), shipped);
  for (const name of shipped) {
    assert.equal(cm.data?.[name], readFileSync(join(repoRoot, 'policies', name), 'utf8'), name);
  }
});

test('the Service gains a port that reaches the sidecar, and keeps its own', { skip }, () => {
  const svc = named<IService>(objects(), 'Service', 'your-users-service');
  const byName = new Map((svc.spec?.ports ?? []).map((p) => [p.name, p]));
  const port = byName.get('cedargate');
  assert.ok(port, 'a port named cedargate');
  assert.equal(
    resolveContainerPort(container('cedargate'), port.targetPort ?? -1),
    loadConfig('sidecar', sidecarEnv()).port,
  );
  assert.ok(byName.has('http'), 'its own port is left for the owner to retire');
  assert.ok(ofKind<IDeployment>(objects(), 'Deployment').length === 1);
});
