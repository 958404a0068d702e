/**
 * Hot reload: watches the config file and calls `onChange` once the file has been quiet for
 * `debounceMs` (editors write in several steps). Watches the directory, so a file replaced by rename
 * (vim, `kubectl cp`, atomic writes) is still seen.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

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
