/**
 * Bun.build plugin: replaces `sharp` (native image processing, pulled in by
 * @huggingface/transformers) with a stub. The proxy only embeds text; without the stub the
 * executable fails at start because sharp's native library cannot load from /$bunfs.
 * The stub must be truthy: transformers throws at import when `sharp` is falsy.
 */
import type { BunPlugin } from "bun";

export const stubSharp: BunPlugin = {
  name: "stub-sharp",
  setup(build) {
    build.onResolve({ filter: /^sharp$/ }, () => ({ path: "sharp", namespace: "stub-sharp" }));
    build.onLoad({ filter: /.*/, namespace: "stub-sharp" }, () => ({
      loader: "js",
      contents: `export default function sharp() { throw new Error("image input is not supported by the llm-proxy executable"); }`,
    }));
  },
};
