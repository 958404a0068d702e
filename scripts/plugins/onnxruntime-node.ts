/**
 * Bun.build plugin: gets native onnxruntime into the executable for one target architecture.
 *
 * 1. @huggingface/transformers loads onnxruntime-node with `createRequire(import.meta.url)(...)`,
 *    which the bundler cannot see; it is rewritten to a plain import so the package is bundled.
 * 2. onnxruntime-node requires its addon by a computed path; that require is replaced by a module
 *    that embeds the target's `onnxruntime_binding.node` and `libonnxruntime.so.1` as file assets
 *    and loads them through src/native/embedded-addon.ts (extracted to disk on first run).
 * Each rewrite fails the build when its pattern is gone, so a package upgrade cannot silently
 * produce an executable without embeddings.
 */
import type { BunPlugin } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const VIRTUAL = "llm-proxy:onnxruntime-binding";

function rewrite(source: string, file: string, from: string | RegExp, to: string): string {
  const out = source.replace(from, to);
  if (out === source) throw new Error(`onnxruntime-node plugin: pattern ${from} not found in ${file}; check the package version`);
  return out;
}

/** @param arch "x64" or "arm64": whose ORT binaries are embedded */
export function onnxruntimeNode(arch: "x64" | "arm64"): BunPlugin {
  const pkgDir = dirname(Bun.resolveSync("onnxruntime-node/package.json", ROOT));
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version as string;
  const binDir = join(pkgDir, "bin", "napi-v6", "linux", arch);
  const files = ["libonnxruntime.so.1", "onnxruntime_binding.node"];
  for (const f of files) if (!existsSync(join(binDir, f))) throw new Error(`onnxruntime-node plugin: ${join(binDir, f)} is missing`);
  const loader = join(ROOT, "src", "native", "embedded-addon.ts");

  return {
    name: "onnxruntime-node",
    setup(build) {
      build.onLoad({ filter: /@huggingface[\\/]transformers[\\/]dist[\\/].*\.mjs$/ }, ({ path }) => ({
        loader: "js",
        contents: rewrite(readFileSync(path, "utf8"), path, /var (\w+) = requireFromHere\("onnxruntime-node"\);/, 'import $1 from "onnxruntime-node";'),
      }));
      build.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, ({ path }) => ({
        loader: "js",
        contents: rewrite(readFileSync(path, "utf8"), path, /require\(`\.\.\/bin\/napi-v6\/[^`]*onnxruntime_binding\.node`\)/, `require(${JSON.stringify(VIRTUAL)}).default`),
      }));
      build.onResolve({ filter: new RegExp(`^${VIRTUAL}$`) }, () => ({ path: VIRTUAL, namespace: "llm-proxy-native" }));
      build.onLoad({ filter: /.*/, namespace: "llm-proxy-native" }, () => ({
        loader: "js",
        contents: [
          ...files.map((f, i) => `import file${i} from ${JSON.stringify(join(binDir, f))} with { type: "file" };`),
          `import { loadEmbeddedAddon } from ${JSON.stringify(loader)};`,
          `export default loadEmbeddedAddon(${JSON.stringify(`onnxruntime-${version}-linux-${arch}`)}, "onnxruntime_binding.node", [`,
          ...files.map((f, i) => `  { embedded: file${i}, name: ${JSON.stringify(f)} },`),
          `]);`,
        ].join("\n"),
      }));
    },
  };
}
