/**
 * Loads a native Node-API addon that was embedded in the compiled executable as file assets.
 *
 * A native library cannot be loaded from the executable's virtual /$bunfs, and onnxruntime's addon
 * finds libonnxruntime.so.1 through its RUNPATH ($ORIGIN), so both files are copied side by side to
 * a directory on disk on first run and the addon is loaded from there. Only the build
 * (scripts/plugins/onnxruntime-node.ts) imports this module; `bun run` loads the addon from
 * node_modules as usual.
 *
 * The directory is, in order: $LLM_PROXY_NATIVE_DIR (the embedding Worker is started with it set to
 * the model cache in the data directory), $LLM_PROXY_DATA_DIR/native, $STATE_DIRECTORY/native
 * (systemd), ./data/native; when that is not writable, the system temp directory. A Worker sees
 * only the environment it was started with, not later changes to process.env.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** An embedded file: its path inside the executable and the name it must have on disk. */
export interface EmbeddedFile {
  embedded: string;
  name: string;
}

/** Where native files are extracted, before trying a fallback. */
export function nativeDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LLM_PROXY_NATIVE_DIR) return resolve(env.LLM_PROXY_NATIVE_DIR);
  const dataDir = env.LLM_PROXY_DATA_DIR || env.STATE_DIRECTORY?.split(":")[0] || "data";
  return resolve(dataDir, "native");
}

/** Copies the files into `dir` unless an identical-size copy is already there (atomic rename). */
function extract(dir: string, files: EmbeddedFile[]): void {
  mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const target = join(dir, file.name);
    if (existsSync(target) && statSync(target).size === statSync(file.embedded).size) continue;
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, readFileSync(file.embedded), { mode: 0o755 });
    renameSync(partial, target);
  }
}

/**
 * Synchronous, because it replaces a `require()` of the addon. Extracts `files` into `<native dir>/<key>/` and loads the addon named `addon` from there.
 * @throws when the addon cannot be loaded (the caller's import fails, as a missing addon would)
 */
export function loadEmbeddedAddon(key: string, addon: string, files: EmbeddedFile[]): unknown {
  let dir = join(nativeDir(), key);
  try {
    extract(dir, files);
  } catch {
    // A read-only working directory must not cost the user semantic tool selection.
    dir = join(tmpdir(), `llm-proxy-${process.getuid?.() ?? "user"}`, "native", key);
    extract(dir, files);
  }
  const module = { exports: {} as unknown };
  process.dlopen(module, join(dir, addon));
  return module.exports;
}
