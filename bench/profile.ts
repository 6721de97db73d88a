/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the time went: self time per
 * function and per area (our code by file, each npm package, node's internals, GC, idle).
 */
import { readFileSync } from 'node:fs';
import { round } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One line of a profile summary. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, in percent. */
  percent: number;
}

/** Where a profile's time went. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  topFunctions: ProfileEntry[];
  areas: ProfileEntry[];
}

/** Summarizes the profile at `file`: the `top` functions by self time, and every area. */
export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i + 1] is the time from sample i to the next one: charge it to sample i.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const fn = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({
        name,
        selfMs: round(us / 1000, 1),
        percent: round((100 * us) / busyUs, 1),
      }));
  return {
    file,
    totalMs: round(totalUs / 1000, 1),
    idleMs: round(idleUs / 1000, 1),
    topFunctions: rank(functions, top),
    areas: rank(areas, 30),
  };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + '/dist/'.length);
  return url;
}

/** The package, our source file, node internals, or V8's pseudo-frames (GC, program). */
function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return (rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]) ?? url;
  }
  if (url.startsWith('node:')) {
    const m = /^node:internal\/([^/]+)/.exec(url);
    return m === null ? url : `node:internal/${m[1]}`;
  }
  const dist = url.indexOf('/dist/');
  return dist !== -1 ? `cedargate ${url.slice(dist + '/dist/'.length)}` : url;
}
