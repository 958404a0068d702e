/**
 * Bun.build plugin: makes `new URL("./worker.ts", import.meta.url)` find a Worker entrypoint inside
 * the executable.
 *
 * Bundled code runs with the main entrypoint's import.meta.url (/$bunfs/root/<executable>), while
 * each Worker entrypoint is embedded under its path from the repository root. So a URL relative to
 * the file that starts the Worker (src/selection/embedder.ts -> "./embed-worker.ts") is rewritten
 * to one relative to the root ("./src/selection/embed-worker.ts"). Only URLs that point at one of
 * the listed Worker entrypoints are touched; under `bun run` the source is used unchanged.
 */
import type { BunPlugin } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const URL_OF = /new URL\((["'])(\.\.?\/[^"']+)\1,\s*import\.meta\.url\)/g;

/**
 * @param root the directory of the main entrypoint (index.ts)
 * @param workers Worker entrypoints, relative to `root`
 */
export function workerUrls(root: string, workers: string[]): BunPlugin {
  const targets = new Set(workers.map((w) => join(root, w)));
  return {
    name: "worker-urls",
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, ({ path }) => {
        let contents = readFileSync(path, "utf8");
        if (path.startsWith(root) && !path.includes("node_modules") && contents.includes("import.meta.url")) {
          contents = contents.replace(URL_OF, (match, quote: string, rel: string) => {
            const target = resolve(dirname(path), rel);
            return targets.has(target) ? `new URL(${quote}./${relative(root, target)}${quote}, import.meta.url)` : match;
          });
        }
        return { contents, loader: "ts" };
      });
    },
  };
}
