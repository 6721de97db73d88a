/**
 * k8s/ renders offline with `kubectl kustomize k8s`, every object validates against the Kubernetes
 * schemas, and the manifests keep the promises docs/deployment.md makes: only the sidecar is
 * reachable, probes hit real endpoints, the pod is locked down, policies cannot drift.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type {
  IConfigMap,
  IContainer,
  IPodSpec,
  IProbe,
  ISecret,
  IService,
} from 'kubernetes-models/v1';
import { loadConfig } from '../../src/config.js';
import { repoRoot } from '../helpers/process.js';
import {
  containerEnv,
  DOWNWARD_API_SAMPLES,
  named,
  objectsOf,
  ofKind,
  podSpecOf,
  renderKustomization,
  resolveContainerPort,
  secretData,
  selects,
  skipWithoutKubectl,
  validateObject,
  type K8sObject,
} from './k8s-render.js';

const k8sDir = join(repoRoot, 'k8s');
const policiesDir = join(repoRoot, 'policies');

const rendered = renderKustomization(k8sDir);
const skip = skipWithoutKubectl(rendered, 'the Kubernetes manifest tests');
const objects = (): K8sObject[] => objectsOf(rendered);

/** The pod-running objects: Deployments and (k8s/redis) StatefulSets, both with a pod template. */
function workloads(): (IDeployment & K8sObject)[] {
  return [
    ...ofKind<IDeployment>(objects(), 'Deployment'),
    ...(ofKind<IStatefulSet>(objects(), 'StatefulSet') as unknown as (IDeployment & K8sObject)[]),
  ];
}

/** Every (workload, pod spec, container) triple of the render. */
function allContainers(): {
  deployment: IDeployment & K8sObject;
  pod: IPodSpec;
  container: IContainer;
}[] {
  return workloads().flatMap((deployment) => {
    const pod = podSpecOf(deployment);
    return pod.containers.map((container) => ({ deployment, pod, container }));
  });
}

const cedargate = () => named<IDeployment>(objects(), 'Deployment', 'cedargate');
function cedargateContainer(name: 'sidecar' | 'backend'): IContainer {
  const c = podSpecOf(cedargate()).containers.find((x) => x.name === name);
  assert.ok(c, `the cedargate Deployment has no "${name}" container`);
  return c;
}
const envOf = (c: IContainer) => containerEnv(c, objects());

/** The shipped policy files a ConfigMap must carry: policies/schema.cedarschema + policies/*.cedar. */
function shippedPolicyFiles(): string[] {
  const nested: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.') || (rel === '' && name === 'tests')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else if (rel !== '' && name.endsWith('.cedar')) nested.push(rel + name);
    }
  };
  walk(policiesDir, '');
  assert.deepEqual(
    nested,
    [],
    'policies in subfolders cannot be ConfigMap keys; keep them at the top',
  );
  return readdirSync(policiesDir)
    .filter((n) => n.endsWith('.cedar') || n === 'schema.cedarschema')
    .sort();
}

test(
  'kubectl kustomize k8s renders, and every object validates as its Kubernetes kind',
  { skip },
  () => {
    const all = objects();
    assert.ok(all.length > 0, 'the render is empty');
    for (const obj of all) validateObject(obj);
    const ids = all.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(ids, [...new Set(ids)], 'two objects share a kind and name');
    for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret', 'PodDisruptionBudget']) {
      assert.ok(
        ids.some((id) => id.startsWith(`${kind}/`)),
        `no ${kind} rendered`,
      );
    }
    for (const kind of ['HorizontalPodAutoscaler', 'NetworkPolicy']) {
      assert.ok(ids.includes(`${kind}/cedargate`), `no ${kind}/cedargate rendered`);
    }
    assert.ok(ids.includes('StatefulSet/cedargate-redis'), 'k8s/redis is not included');
  },
);

test('an unknown kind fails validation instead of passing unchecked', { skip }, () => {
  const odd: K8sObject = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
  assert.throws(() => validateObject(odd), /unknown kind example\.com\/v1\/Widget/);
  const bad = structuredClone(cedargate());
  const first = bad.spec?.template.spec?.containers[0];
  assert.ok(first);
  first.ports = [{ containerPort: 'eighty' as unknown as number }];
  assert.throws(() => validateObject(bad), /Deployment\/cedargate does not validate/);
});

test('Services target only declared container ports, and never the backend', { skip }, () => {
  const deployments = workloads();
  const backendPort = Number(envOf(cedargateContainer('backend')).BACKEND_PORT ?? '8081');
  for (const svc of ofKind<IService>(objects(), 'Service')) {
    const pods = deployments.filter((d) =>
      selects(svc.spec?.selector, d.spec?.template.metadata?.labels),
    );
    assert.ok(pods.length > 0, `Service ${svc.metadata.name} selects no pods`);
    for (const port of svc.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port;
      for (const d of pods) {
        const hits = podSpecOf(d).containers.flatMap((c) => {
          const n = resolveContainerPort(c, target);
          return n === undefined ? [] : [{ container: c.name, port: n }];
        });
        assert.equal(
          hits.length,
          1,
          `${svc.metadata.name}:${port.port} → ${target} matches ${hits.length} container ports`,
        );
        const hit = hits[0];
        assert.ok(hit);
        assert.notEqual(
          hit.container,
          'backend',
          `Service ${svc.metadata.name} reaches the backend`,
        );
        assert.notEqual(hit.port, backendPort, `Service ${svc.metadata.name} targets BACKEND_PORT`);
      }
    }
  }
  // The cedargate Service: exactly the sidecar's PORT, nothing else (not even the admin port).
  const svc = named<IService>(objects(), 'Service', 'cedargate');
  const sidecar = cedargateContainer('sidecar');
  const ports = svc.spec?.ports ?? [];
  assert.equal(ports.length, 1, 'the cedargate Service must expose one port');
  const only = ports[0];
  assert.ok(only);
  assert.equal(
    resolveContainerPort(sidecar, only.targetPort ?? only.port),
    Number(envOf(sidecar).PORT),
  );
  assert.equal(Number(envOf(sidecar).PORT), 8080);
});

/** Checks one probe against the endpoints the container really serves. */
async function checkProbe(
  kind: string,
  probe: IProbe,
  container: IContainer,
  env: Record<string, string>,
) {
  const where = `${container.name} ${kind}Probe`;
  if (probe.httpGet !== undefined) {
    const port = resolveContainerPort(container, probe.httpGet.port);
    assert.ok(
      port !== undefined,
      `${where}: port ${probe.httpGet.port} is not a port of the container`,
    );
    // HTTP probes exist only on the sidecar's admin port: /healthz (alive) and /readyz (ready).
    assert.equal(port, Number(env.ADMIN_PORT), `${where}: HTTP probes go to ADMIN_PORT`);
    const expected = kind === 'readiness' ? '/readyz' : '/healthz';
    assert.equal(probe.httpGet.path, expected, `${where}: wrong path`);
    return;
  }
  if (probe.tcpSocket !== undefined) {
    const port = resolveContainerPort(container, probe.tcpSocket.port);
    assert.ok(
      port !== undefined,
      `${where}: port ${probe.tcpSocket.port} is not a port of the container`,
    );
    return;
  }
  // The only exec probe we ship: node fetching the loopback backend's /healthz.
  const command = probe.exec?.command ?? [];
  assert.equal(command[0], 'node', `${where}: unknown probe ${JSON.stringify(probe)}`);
  const script = command[2] ?? '';
  const url = new URL(/fetch\('([^']+)'\)/.exec(script)?.[1] ?? 'invalid:');
  assert.equal(url.hostname, env.BACKEND_HOST ?? '127.0.0.1', `${where}: not the backend's host`);
  assert.equal(url.hostname, '127.0.0.1');
  assert.equal(url.port, env.BACKEND_PORT ?? '8081', `${where}: not BACKEND_PORT`);
  assert.equal(url.pathname, '/healthz', `${where}: the backend's health endpoint is /healthz`);
  // Run the probe's own script against a stand-in backend: exit 0 on 200, non-zero on 503.
  for (const [status, wantOk] of [
    [200, true],
    [503, false],
  ] as const) {
    const server = createServer((req, res) => {
      res.statusCode = req.url === url.pathname ? status : 404;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const local = script.replace(`:${url.port}/`, `:${address.port}/`);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [...command.slice(1, 2), local], { stdio: 'ignore' });
      child.on('exit', resolve);
    });
    await new Promise((r) => server.close(r));
    assert.equal(code === 0, wantOk, `${where}: exit ${code} for a ${status} from /healthz`);
  }
}

test('every probe points at a real endpoint of its container', { skip }, async () => {
  for (const { container } of allContainers()) {
    assert.ok(container.livenessProbe, `${container.name} has no livenessProbe`);
    assert.ok(container.readinessProbe, `${container.name} has no readinessProbe`);
    const env = envOf(container);
    for (const kind of ['startup', 'liveness', 'readiness'] as const) {
      const probe = container[`${kind}Probe`];
      if (probe !== undefined) await checkProbe(kind, probe, container, env);
    }
  }
  // The sidecar's probes are HTTP on the admin port; the admin port is declared on the sidecar.
  const sidecar = cedargateContainer('sidecar');
  assert.equal(sidecar.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(sidecar.livenessProbe?.httpGet?.path, '/healthz');
  assert.ok(
    cedargateContainer('backend').livenessProbe?.exec,
    'the loopback backend needs an exec probe',
  );
});

test(
  'the policies come from the ConfigMap, mounted read-only where POLICY_DIR points',
  { skip },
  () => {
    const pod = podSpecOf(cedargate());
    const volume = pod.volumes?.find((v) => v.configMap?.name === 'cedargate-policies');
    assert.ok(volume, 'no volume from the cedargate-policies ConfigMap');
    const volumeName = volume.name;
    for (const name of ['sidecar', 'backend'] as const) {
      const c = cedargateContainer(name);
      const mounts = (c.volumeMounts ?? []).filter((m) => m.name === volumeName);
      assert.equal(mounts.length, 1, `${name} mounts the policies ${mounts.length} times`);
      const mount = mounts[0];
      assert.ok(mount);
      assert.equal(mount.readOnly, true, `${name}: the policies mount must be readOnly`);
      // subPath mounts never see ConfigMap updates: the hot reload needs the whole directory.
      assert.equal(mount.subPath, undefined, `${name}: a subPath mount would never reload`);
      assert.equal(envOf(c).POLICY_DIR, mount.mountPath, `${name}: POLICY_DIR is not the mount`);
    }
  },
);

test('the policies ConfigMap holds exactly the shipped policies, byte for byte', { skip }, () => {
  const cm = named<IConfigMap>(objects(), 'ConfigMap', 'cedargate-policies');
  const files = shippedPolicyFiles();
  assert.ok(files.includes('schema.cedarschema'), 'policies/schema.cedarschema is missing');
  const hint = 'k8s/policies drifted from policies/: run `node scripts/sync-k8s-policies.mjs`';
  assert.deepEqual(Object.keys(cm.data ?? {}).sort(), files, hint);
  for (const f of files) {
    assert.equal(cm.data?.[f], readFileSync(join(policiesDir, f), 'utf8'), `${f}: ${hint}`);
  }
});

test(
  'every container is non-root, with a read-only root filesystem and no capabilities',
  { skip },
  () => {
    for (const { pod, container } of allContainers()) {
      const sc = container.securityContext ?? {};
      const psc = pod.securityContext ?? {};
      const where = container.name;
      assert.equal(sc.runAsNonRoot ?? psc.runAsNonRoot, true, `${where}: runAsNonRoot`);
      const uid = sc.runAsUser ?? psc.runAsUser;
      assert.ok(uid !== undefined && uid > 0, `${where}: runAsUser must be a non-zero uid`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
      assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
      assert.notEqual(sc.privileged, true, `${where}: privileged`);
      assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities must drop ALL`);
      assert.equal(sc.capabilities?.add, undefined, `${where}: adds capabilities`);
      assert.equal(
        (sc.seccompProfile ?? psc.seccompProfile)?.type,
        'RuntimeDefault',
        `${where}: seccomp`,
      );
      // A read-only root needs somewhere to write: /tmp at least, on an emptyDir.
      const emptyDirs = new Set((pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
      const writable = (path: string) =>
        (container.volumeMounts ?? []).some(
          (m) => m.mountPath === path && emptyDirs.has(m.name) && !m.readOnly,
        );
      assert.ok(writable('/tmp'), `${where}: no writable emptyDir at /tmp`);
      const dataDir = envOf(container).DATA_DIR;
      if (deploymentIsCedargate(container)) {
        assert.ok(
          dataDir !== undefined && writable(dataDir),
          `${where}: DATA_DIR is not a writable emptyDir`,
        );
        assert.equal(uid, 1000, `${where}: the image's node user is uid 1000`);
      }
    }
  },
);

function deploymentIsCedargate(c: IContainer): boolean {
  return podSpecOf(cedargate()).containers.includes(c);
}

test('every container declares requests and limits', { skip }, () => {
  for (const { container } of allContainers()) {
    for (const field of ['requests', 'limits'] as const) {
      const r = container.resources?.[field];
      assert.ok(
        r?.cpu !== undefined && r.memory !== undefined,
        `${container.name}: ${field} cpu/memory`,
      );
    }
  }
});

test('both containers start with a valid configuration that points at each other', { skip }, () => {
  const sidecarEnv = envOf(cedargateContainer('sidecar'));
  const backendEnv = envOf(cedargateContainer('backend'));
  // The real config loader: `sidecar` refuses to start without a key source, issuer and audience.
  const sidecar = loadConfig('sidecar', sidecarEnv);
  const backend = loadConfig('backend', backendEnv);
  assert.ok(sidecar.jwksUrl ?? sidecar.jwksFile, 'the sidecar has no JWKS_URL or JWKS_FILE');
  assert.equal(backend.backendHost, '127.0.0.1', 'the backend must listen on loopback only');
  assert.equal(new URL(sidecar.upstreamUrl).hostname, '127.0.0.1');
  assert.equal(
    Number(new URL(sidecar.upstreamUrl).port),
    backend.backendPort,
    'UPSTREAM_URL misses the backend',
  );
  assert.equal(sidecar.port, 8080);
  assert.equal(sidecar.adminPort, 9901);
  // The admin port listens on the pod address, where the kubelet's probes and the scrape reach
  // it; ADMIN_HOST's loopback default would fail every probe.
  const adminHost = cedargateContainer('sidecar').env?.find((e) => e.name === 'ADMIN_HOST');
  assert.equal(adminHost?.valueFrom?.fieldRef?.fieldPath, 'status.podIP', 'ADMIN_HOST ← pod IP');
  assert.equal(sidecar.adminHost, DOWNWARD_API_SAMPLES['status.podIP']);
  assert.notEqual(sidecar.port, backend.backendPort);
  // The trust header: one Secret key, the same value in both containers.
  for (const c of [cedargateContainer('sidecar'), cedargateContainer('backend')]) {
    const ref = c.env?.find((e) => e.name === 'TRUST_SECRET')?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${c.name}: TRUST_SECRET must come from a Secret`);
    assert.ok(secretData(named<ISecret>(objects(), 'Secret', ref.name ?? ''))[ref.key]);
  }
  assert.ok(sidecar.trustSecret !== undefined && sidecar.trustSecret === backend.trustSecret);
  // More than one replica needs the shared store: SQLite is per pod.
  assert.ok(backend.redisUrl, 'the backend has no REDIS_URL');
  assert.equal(sidecar.redisUrl, backend.redisUrl, 'the sidecar needs the same Redis (revocation)');
  const redis = new URL(backend.redisUrl);
  const redisSvc = named<IService>(objects(), 'Service', redis.hostname);
  assert.ok(
    (redisSvc.spec?.ports ?? []).some((p) => p.port === Number(redis.port || 6379)),
    `REDIS_URL port ${redis.port} is not a port of Service ${redis.hostname}`,
  );
});

/** The seconds a container's preStop `sleep N` holds it before SIGTERM. */
function preStopSeconds(c: IContainer): number {
  const cmd = c.lifecycle?.preStop?.exec?.command;
  if (cmd === undefined) return 0;
  assert.equal(cmd[0], 'sleep', `${c.name}: unknown preStop ${JSON.stringify(cmd)}`);
  return Number(cmd[1]);
}

test(
  'the grace period covers each preStop plus SHUTDOWN_GRACE_MS; the backend outlives the sidecar',
  { skip },
  () => {
    const pod = podSpecOf(cedargate());
    const sidecar = cedargateContainer('sidecar');
    const backend = cedargateContainer('backend');
    const sidecarStop = preStopSeconds(sidecar);
    assert.ok(
      sidecarStop >= 3,
      'the sidecar needs a preStop sleep so endpoints drop it before SIGTERM',
    );
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    for (const c of [sidecar, backend]) {
      const drainMs = loadConfig('backend', envOf(c)).shutdownGraceMs;
      assert.ok(
        grace * 1000 > preStopSeconds(c) * 1000 + drainMs,
        `${c.name}: terminationGracePeriodSeconds ${grace} <= preStop ${preStopSeconds(c)} s + ${drainMs} ms`,
      );
    }
    const sidecarDrainMs = loadConfig('backend', envOf(sidecar)).shutdownGraceMs;
    assert.ok(
      preStopSeconds(backend) * 1000 >= sidecarStop * 1000 + sidecarDrainMs,
      'the backend must stay up while the sidecar drains',
    );
  },
);

test('the autoscaler and the disruption budget fit the Deployment', { skip }, () => {
  const d = cedargate();
  const podLabels = d.spec?.template.metadata?.labels;
  const hpa = named<IHorizontalPodAutoscaler>(objects(), 'HorizontalPodAutoscaler', 'cedargate');
  assert.deepEqual(
    { kind: hpa.spec?.scaleTargetRef.kind, name: hpa.spec?.scaleTargetRef.name },
    { kind: 'Deployment', name: 'cedargate' },
  );
  const min = hpa.spec?.minReplicas ?? 1;
  assert.ok(min >= 2, 'fewer than 2 replicas leaves nothing serving during a restart');
  assert.ok((hpa.spec?.maxReplicas ?? 0) >= min);
  assert.equal(d.spec?.replicas, min, 'the Deployment should start at the autoscaler floor');
  for (const pdb of ofKind<IPodDisruptionBudget>(objects(), 'PodDisruptionBudget')) {
    assert.ok(
      selects(pdb.spec?.selector?.matchLabels, podLabels),
      `PDB ${pdb.metadata.name} selects nothing`,
    );
    const minAvailable = pdb.spec?.minAvailable;
    assert.ok(
      typeof minAvailable === 'number' && minAvailable < min,
      'the PDB would block every drain',
    );
  }
  // A rollout never takes the last ready pod away.
  assert.equal(d.spec?.strategy?.rollingUpdate?.maxUnavailable, 0);
});

test(
  'the NetworkPolicy admits the API port, the admin port from monitoring only, and little else',
  { skip },
  () => {
    const np = named<INetworkPolicy>(objects(), 'NetworkPolicy', 'cedargate');
    const sidecarEnv = envOf(cedargateContainer('sidecar'));
    const [api, admin] = [Number(sidecarEnv.PORT), Number(sidecarEnv.ADMIN_PORT)];
    assert.ok(
      selects(np.spec?.podSelector.matchLabels, cedargate().spec?.template.metadata?.labels),
    );
    assert.deepEqual([...(np.spec?.policyTypes ?? [])].sort(), ['Egress', 'Ingress']);
    const ingressPorts = new Set<number>();
    for (const rule of np.spec?.ingress ?? []) {
      assert.ok((rule.ports ?? []).length > 0, 'an ingress rule without ports opens every port');
      for (const p of rule.ports ?? []) {
        const port = Number(p.port);
        ingressPorts.add(port);
        assert.ok(port === api || port === admin, `ingress to port ${port}`);
        if (port === admin) {
          assert.ok((rule.from ?? []).length > 0, 'the admin port must not be open to everyone');
          assert.ok(
            rule.from?.every((f) => f.namespaceSelector?.matchLabels),
            'admin: namespace selector',
          );
        }
      }
    }
    assert.deepEqual([...ingressPorts].sort(), [api, admin].sort());
    const egress = (np.spec?.egress ?? []).flatMap((r) =>
      (r.ports ?? []).map((p) => `${p.protocol}/${p.port}`),
    );
    assert.deepEqual([...new Set(egress)].sort(), ['TCP/443', 'TCP/53', 'TCP/6379', 'UDP/53']);
    for (const rule of np.spec?.egress ?? []) {
      assert.ok((rule.ports ?? []).length > 0, 'an egress rule without ports opens every port');
    }
  },
);

test(
  'k8s/redis runs as docs/scaling.md says: a volume claim, fsync always, noeviction',
  { skip },
  () => {
    const all = objects();
    assert.ok(
      !all.some((o) => o.kind === 'Deployment' && o.metadata.name === 'cedargate-redis'),
      'Redis must not be a Deployment on an emptyDir (its data would go with the pod)',
    );
    const redis = named<IStatefulSet>(all, 'StatefulSet', 'cedargate-redis');
    assert.equal(redis.spec?.replicas, 1, 'one writer: never two Redis pods with separate data');
    named<IService>(all, 'Service', redis.spec?.serviceName ?? '(no serviceName)');
    const claim = (redis.spec?.volumeClaimTemplates ?? []).find((c) => c.metadata?.name === 'data');
    assert.ok(claim, 'no volumeClaimTemplate "data"');
    assert.ok(claim.spec?.resources?.requests?.['storage'], 'the claim requests no storage');
    const pod = podSpecOf(redis as unknown as IDeployment);
    assert.ok(
      !(pod.volumes ?? []).some((v) => v.name === 'data'),
      'a pod volume "data" would shadow the claim',
    );
    const container = pod.containers.find((c) => c.name === 'redis');
    assert.ok(container, 'no redis container');
    assert.ok(
      (container.volumeMounts ?? []).some((m) => m.name === 'data' && m.mountPath === '/data'),
      'the claim is not mounted at /data',
    );
    const args = [...(container.command ?? []), ...(container.args ?? [])].join(' ');
    for (const setting of [
      '--dir /data',
      '--appendonly yes',
      '--appendfsync always',
      '--maxmemory-policy noeviction',
    ]) {
      assert.ok(args.includes(setting), `redis-server runs without ${setting}: ${args}`);
    }
    const docs = readFileSync(join(repoRoot, 'docs', 'scaling.md'), 'utf8');
    assert.match(docs, /appendfsync always/);
    assert.match(docs, /maxmemory-policy noeviction/);
  },
);
