/**
 * Hot reload: watches the config file (and the models and skills directories) and calls `onChange` once the file has been quiet for
 * `debounceMs` (editors write in several steps). Watches the directory, so a file replaced by rename
 * (vim, `kubectl cp`, atomic writes) is still seen.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

/**
 * Watches directories (and what is below them) and calls `onChange` once they have been quiet for
 * `debounceMs`. A directory that does not exist is not watched (create it, then reload once).
 * @returns a function that stops watching
 */
export function watchDirs(dirs: readonly string[], onChange: () => void, debounceMs = 200): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    const watcher = watch(dir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    watcher.unref?.();
    watchers.push(watcher);
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

/** @returns a function that stops watching */
export function watchConfig(path: string, onChange: () => void, debounceMs = 200): () => void {
  const name = basename(path);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watcher: FSWatcher = watch(dirname(path), (_event, file) => {
    if (file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.unref?.();
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
