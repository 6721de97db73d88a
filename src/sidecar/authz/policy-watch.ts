/**
 * What triggers a store's reloads besides SIGHUP: fs.watch on exactly the directories that hold
 * policy files (debounced), and a content-hash poll as a fallback for file systems that do not
 * report changes.
 */
import { watch, type FSWatcher } from 'node:fs';
import { listWatchDirs } from '../../policy/policy-files.js';
import type { ReloadResult, StoreState } from './store-state.js';

/** How a store watches its directory. */
export interface WatchOptions {
  /** Watch the directory with fs.watch. */
  watch: boolean;
  /** Content-hash check period in ms; 0 turns it off. */
  pollMs: number;
  /** Quiet time after the last file event before reloading (default 200 ms). */
  debounceMs?: number;
}

/**
 * Starts the fs watchers (when `options.watch`) and the content-hash poll (when `pollMs` > 0);
 * resolves once the first watchers are set. `close()` stops both; `state.closed` is set first.
 */
export async function startWatching(
  state: StoreState,
  options: WatchOptions,
  reload: (reason: string) => Promise<ReloadResult>,
): Promise<{ close(): void }> {
  const debounceMs = options.debounceMs ?? 200;
  const watchers = new Map<string, FSWatcher>();
  let debounce: NodeJS.Timeout | undefined;
  const onEvent = (): void => {
    if (state.closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      void reload('watch').then(sync);
    }, debounceMs);
    debounce.unref();
  };
  const sync = (): Promise<void> => syncWatchers(state, options, watchers, onEvent);
  await sync();

  let poll: NodeJS.Timeout | undefined;
  if (options.pollMs > 0) {
    poll = setInterval(() => {
      void reload('poll').then(sync);
    }, options.pollMs);
    poll.unref();
  }

  return {
    close() {
      clearTimeout(debounce);
      clearInterval(poll);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

/** Watches exactly the directories that hold policy files now. */
async function syncWatchers(
  state: StoreState,
  options: WatchOptions,
  watchers: Map<string, FSWatcher>,
  onEvent: () => void,
): Promise<void> {
  const { dir } = state;
  if (!options.watch || state.closed) return;
  const wanted = new Set(await listWatchDirs(dir).catch(() => [dir]));
  for (const [path, w] of watchers) {
    if (!wanted.has(path)) {
      w.close();
      watchers.delete(path);
    }
  }
  for (const path of wanted) {
    if (watchers.has(path) || state.closed) continue;
    try {
      const w = watch(path, { persistent: false }, onEvent);
      // A watched dir that disappears errors; drop it and let the next sync (or poll) recover.
      w.on('error', () => {
        w.close();
        watchers.delete(path);
        onEvent();
      });
      watchers.set(path, w);
    } catch (err) {
      state.logger.warn({ err, path }, 'cannot watch policy directory; relying on polling');
    }
  }
}
