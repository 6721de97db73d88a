/**
 * The resident memory of another process, from Linux's /proc: what the memory tests bound.
 * The peak is the kernel's own high-water mark (VmHWM), reset before each measured phase, so a
 * short spike between two samples cannot go unseen.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Whether this machine can measure another process's resident memory. */
export function canMeasureMemory(pid: number): boolean {
  return existsSync(`/proc/${pid}/status`) && existsSync(`/proc/${pid}/clear_refs`);
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Resident memory now, in MiB. */
export function residentMiB(pid: number): number {
  return statusKiB(pid, 'VmRSS') / 1024;
}

/** Peak resident memory since the last `resetPeak` (or the start), in MiB. */
export function peakMiB(pid: number): number {
  return statusKiB(pid, 'VmHWM') / 1024;
}

/** Starts a new peak at the current resident size (proc(5): clear_refs, "5"). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
