/**
 * Builds the single executables: dist/llm-proxy-linux-x64 and dist/llm-proxy-linux-arm64.
 *
 *   bun run build                         both targets
 *   bun run build --target linux-x64      one target (repeatable)
 *
 * Every Worker entrypoint must be compiled in as an extra entrypoint (a compiled binary cannot load
 * a module from disk), so they are listed here, in WORKERS; a listed file that does not exist yet is
 * skipped. The plugins stub `sharp`, embed the target's native onnxruntime and point Worker URLs at
 * the embedded entrypoints (see scripts/plugins).
 * Cross-compiling fetches the target's Bun runtime from the npm registry on first use.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { onnxruntimeNode } from "./plugins/onnxruntime-node.ts";
import { stubSharp } from "./plugins/stub-sharp.ts";
import { workerUrls } from "./plugins/worker-urls.ts";

const ROOT = join(import.meta.dir, "..");

/** Files started with `new Worker(...)`, relative to the repository root. */
export const WORKERS = ["src/selection/embed-worker.ts", "src/selection/language-worker.ts", "src/store/request-log-worker.ts", "src/store/request-log-reader-worker.ts"];

const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", arch: "x64" },
  "linux-arm64": { bun: "bun-linux-arm64", arch: "arm64" },
} as const;
type TargetName = keyof typeof TARGETS;

/** The executable's path for a target. */
export function outfileFor(target: TargetName): string {
  return join(ROOT, "dist", `llm-proxy-${target}`);
}

/**
 * Compiles one executable.
 * @throws with the bundler's messages when the build fails
 */
export async function buildTarget(target: TargetName): Promise<{ outfile: string; seconds: number; bytes: number }> {
  const { bun, arch } = TARGETS[target];
  const outfile = outfileFor(target);
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const workers = WORKERS.filter((w) => existsSync(join(ROOT, w)));
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: [join(ROOT, "index.ts"), ...workers.map((w) => join(ROOT, w))],
    root: ROOT,
    target: "bun",
    format: "esm",
    minify: true,
    bytecode: true,
    // Each dynamically imported module (MCP SDK, prom-client, mathjs, the language detector, ...) in
    // its own chunk, read when first imported: one chunk held all of them, and loading it at start
    // cost ~5 MiB of idle RSS (docs/benchmarks.md, "Idle RSS by module").
    splitting: true,
    plugins: [stubSharp, onnxruntimeNode(arch), workerUrls(ROOT, workers)],
    compile: { target: bun, outfile, autoloadBunfig: false },
    throw: false,
  });
  if (!result.success) throw new AggregateError(result.logs, `build for ${target} failed:\n${result.logs.join("\n")}`);
  return { outfile, seconds: (performance.now() - started) / 1000, bytes: statSync(outfile).size };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { target: { type: "string", multiple: true } } });
  const targets = (values.target ?? Object.keys(TARGETS)) as TargetName[];
  for (const t of targets) if (!(t in TARGETS)) throw new Error(`unknown target "${t}"; expected one of ${Object.keys(TARGETS).join(", ")}`);
  console.log(`llm-proxy ${pkg.version}: workers ${WORKERS.filter((w) => existsSync(join(ROOT, w))).join(", ") || "(none yet)"}`);
  for (const target of targets) {
    const { outfile, seconds, bytes } = await buildTarget(target);
    console.log(`${relative(ROOT, outfile)}  ${(bytes / 2 ** 20).toFixed(1)} MiB  ${seconds.toFixed(1)} s`);
  }
}

if (import.meta.main) await main();
