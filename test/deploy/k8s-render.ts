/**
 * Renders `k8s/` with `kubectl kustomize` (offline), validates every object against the Kubernetes
 * OpenAPI schemas shipped by `kubernetes-models`, and answers the questions the manifest tests ask:
 * which pods a selector picks, what environment a container really gets, where a port name leads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import type { IConfigMap, IContainer, IPodSpec, ISecret } from 'kubernetes-models/v1';

/** Any rendered object: what every Kubernetes object has. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

type Validating = new (data: never) => { validate(): void };

/**
 * The kinds cedargate ships, keyed `apiVersion/kind`. A kind missing here fails the render test on
 * purpose: adding one to k8s/ should come with a thought about what to check on it.
 */
const MODELS: Readonly<Record<string, Validating>> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

export type RenderResult =
  { ok: true; objects: K8sObject[] } | { ok: false; missingKubectl: boolean; message: string };

/** Runs `kubectl kustomize DIR` and parses the YAML stream it prints. */
export function renderKustomization(dir: string): RenderResult {
  const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (run.error !== undefined) {
    const missing = (run.error as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, missingKubectl: missing, message: run.error.message };
  }
  if (run.status !== 0) {
    return {
      ok: false,
      missingKubectl: false,
      message: `kubectl kustomize ${dir} failed:\n${run.stderr}`,
    };
  }
  const docs = parseAllDocuments(run.stdout);
  if (!Array.isArray(docs)) return { ok: true, objects: [] };
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0)
      throw new Error(`unparsable YAML from kustomize: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
  }
  return { ok: true, objects };
}

/**
 * The skip reason of tests over `rendered`: false unless kubectl is missing. kubectl is the one
 * outside tool here: locally its absence skips `what` loudly; under CI=true it fails the file,
 * so CI can never pass without rendering the manifests.
 */
export function skipWithoutKubectl(rendered: RenderResult, what: string): false | string {
  if (rendered.ok || !rendered.missingKubectl) return false;
  const msg = `kubectl not found: ${what} are SKIPPED. Install it with: sudo apt-get install -y kubectl`;
  if (process.env.CI === 'true') throw new Error(`FATAL (CI=true): ${msg}`);
  console.error(`\n*** ${msg} ***\n`);
  return msg;
}

/** The rendered objects; fails the test with kustomize's message when the render failed. */
export function objectsOf(r: RenderResult): K8sObject[] {
  if (!r.ok) assert.fail(r.message);
  return r.objects;
}

/** Validates one object with its kubernetes-models class; throws naming the object. */
export function validateObject(obj: K8sObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  const name = `${obj.kind}/${obj.metadata?.name ?? '(no name)'}`;
  if (Model === undefined) {
    throw new Error(`${name}: unknown kind ${key}; known: ${Object.keys(MODELS).join(', ')}`);
  }
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(
      `${name} does not validate: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Objects of one kind. */
export function ofKind<T>(objects: readonly K8sObject[], kind: string): (T & K8sObject)[] {
  return objects.filter((o) => o.kind === kind) as (T & K8sObject)[];
}

/** The one object of a kind and name, or an error naming what is missing. */
export function named<T>(objects: readonly K8sObject[], kind: string, name: string): T & K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind}/${name} in the rendered manifests`);
  return found as T & K8sObject;
}

/** Whether a matchLabels-style selector picks objects carrying `labels`. */
export function selects(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The pod spec of a Deployment (throws when absent: a Deployment without one is broken). */
export function podSpecOf(d: IDeployment): IPodSpec {
  const spec = d.spec?.template.spec;
  if (spec === undefined) throw new Error(`Deployment ${d.metadata?.name} has no pod spec`);
  return spec;
}

/**
 * The environment a container starts with: `envFrom` ConfigMaps and Secrets first, then `env`
 * (which wins, as in Kubernetes). Secret values are decoded; a missing reference throws.
 */
/**
 * What the kubelet would put in a downward-API variable (`valueFrom.fieldRef`), as a sample
 * value of the right shape; a field not listed here resolves to nothing and fails the render.
 */
export const DOWNWARD_API_SAMPLES: Readonly<Record<string, string>> = {
  'status.podIP': '10.244.1.23',
};

export function containerEnv(
  container: IContainer,
  objects: readonly K8sObject[],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef !== undefined) {
      Object.assign(
        env,
        named<IConfigMap>(objects, 'ConfigMap', from.configMapRef.name ?? '').data,
      );
    }
    if (from.secretRef !== undefined) {
      Object.assign(env, secretData(named<ISecret>(objects, 'Secret', from.secretRef.name ?? '')));
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value;
      continue;
    }
    const cm = e.valueFrom?.configMapKeyRef;
    const sk = e.valueFrom?.secretKeyRef;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value =
      cm !== undefined
        ? named<IConfigMap>(objects, 'ConfigMap', cm.name ?? '').data?.[cm.key]
        : sk !== undefined
          ? secretData(named<ISecret>(objects, 'Secret', sk.name ?? ''))[sk.key]
          : field !== undefined
            ? DOWNWARD_API_SAMPLES[field]
            : undefined;
    if (value === undefined)
      throw new Error(`${container.name}: env ${e.name} resolves to nothing`);
    env[e.name] = value;
  }
  return env;
}

/** A Secret's values as strings (stringData and base64 data). */
export function secretData(secret: ISecret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {}))
    out[k] = Buffer.from(v, 'base64').toString();
  Object.assign(out, secret.stringData ?? {});
  return out;
}

/**
 * The container port a port reference (a number or a port name) leads to in one container, or
 * undefined when the container declares no such port.
 */
export function resolveContainerPort(
  container: IContainer,
  ref: number | string,
): number | undefined {
  const port = (container.ports ?? []).find((p) =>
    typeof ref === 'number' ? p.containerPort === ref : p.name === ref,
  );
  return port?.containerPort;
}
