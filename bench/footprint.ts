/**
 * Memory and throughput of the proxy with tool selection on, per selection mode, from source and as
 * the compiled executable (`bun bench/footprint.ts`; results and method in docs/benchmarks.md).
 *
 * Per target and mode, in one process each, against the lean fake upstream (bench/fake-upstream.ts)
 * with the Home Assistant request (34 tools, bench/ha-request.ts):
 *   1. idle RSS 2 s after start;
 *   2. cold start: 8 clients send their first request at once; ms until all are answered, RSS after;
 *   3. warm: once the embeddings answer (hybrid), RSS after one more request ("after first request");
 *   4. c=1 for `--latency-seconds`, distinct queries: p99 added to the direct p99 measured just before;
 *   5. c=`--concurrency` for 10 s, the same request every time: req/s vs direct (measured just before);
 *   6. c=`--concurrency` for `--duration` seconds, distinct queries, RSS sampled every `--sample`
 *      seconds: req/s vs direct, RSS at the end, peak, and the trend of the second half
 *      (least-squares slope, MiB per minute), plus where the memory is (anon / file / onnxruntime);
 *   7. after the proxy stopped: the request log's bytes on disk (database and WAL) per logged request.
 * "Distinct queries": the conversations of the tool-selection dev set (566) in turn, each in the
 * same Home Assistant request, so that the selector's remembered outcomes (256) never answer and
 * every request's query is analysed; query embeddings (LRU of 1,024) are computed once per text.
 * The executable runs as after its first start: onnxruntime's native files are already unpacked
 * (copied into `LLM_PROXY_NATIVE_DIR` beforehand), since unpacking them reads ~45 MiB of the
 * executable's own pages into the process once (src/native/embedded-addon.ts; docs/benchmarks.md).
 * Modes: off, lexical, hybrid (the offline USE-lite model in the embedding Worker), hybrid-upstream
 * (`selection.embeddings`: the same model served over HTTP by test/fakes/model-embeddings.ts, its own process).
 *
 *   bun bench/footprint.ts [--duration 600] [--sample 10] [--concurrency 32] [--latency-seconds 5]
 *                          [--modes off,lexical,hybrid,hybrid-upstream] [--targets source,executable] [--no-build]
 *                          [--config JSON]   (merged into the proxy's config, e.g. '{"compression":{"mode":"off"}}')
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildTarget, outfileFor } from "../scripts/build.ts";
import { openaiRequest } from "./ha-request.ts";
import { memoryOf, startServer, type ServerProcess } from "./process.ts";
import { proxyConfig } from "./proxy-config.ts";
import { wrk } from "./wrk.ts";

const ROOT = join(import.meta.dir, "..");
const MODELS_DIR = join(ROOT, "..", "shared", "models");
const MODEL = "universal-sentence-encoder-lite-en";
const COLD_CLIENTS = 8;
const DEV_SET = join(ROOT, "..", "shared", "datasets", "tool-selection", "dev.jsonl");

const { values: opts } = parseArgs({
  options: {
    duration: { type: "string", default: "600" },
    sample: { type: "string", default: "10" },
    concurrency: { type: "string", default: "32" },
    "latency-seconds": { type: "string", default: "5" },
    modes: { type: "string", default: "off,lexical,hybrid,hybrid-upstream" },
    targets: { type: "string", default: "source,executable" },
    "no-build": { type: "boolean" },
    config: { type: "string", default: "{}" },
  },
});
const DURATION = Number(opts.duration);
const SAMPLE = Number(opts.sample);
const CONCURRENCY = Number(opts.concurrency);
const LATENCY_SECONDS = Number(opts["latency-seconds"]);
const MODES = opts.modes!.split(",");
const TARGETS = opts.targets!.split(",");

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const table = (header: string[], rows: (string | number)[][]) => [row(header), row(header.map(() => "---")), ...rows.map(row)].join("\n");

/** Least-squares slope of `ys` over `xs`. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0);
  const den = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  return den ? num / den : 0;
}

/** The `selection` section of a mode: shipped defaults plus the offline model or the embeddings upstream. */
function selectionFor(mode: string): Record<string, unknown> {
  if (mode === "hybrid") return { mode: "hybrid", embedding_model: MODEL, models_dir: MODELS_DIR };
  if (mode === "hybrid-upstream") return { mode: "hybrid", embeddings: { upstream: "embeddings", model: MODEL } };
  return { mode };
}

/**
 * A directory holding onnxruntime's native files as the executable unpacks them on its first start
 * (`<dir>/onnxruntime-<version>-linux-x64/`, src/native/embedded-addon.ts), so that every run
 * measures a later start. @returns the directory, for LLM_PROXY_NATIVE_DIR
 */
function unpackedNative(dir: string): string {
  const pkgDir = join(ROOT, "node_modules", "onnxruntime-node");
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version as string;
  const target = join(dir, "native", `onnxruntime-${version}-linux-x64`);
  mkdirSync(target, { recursive: true });
  for (const f of ["libonnxruntime.so.1", "onnxruntime_binding.node"]) copyFileSync(join(pkgDir, "bin", "napi-v6", "linux", "x64", f), join(target, f));
  return join(dir, "native");
}

/** The request log's SQLite file in `dataDir` (src/store/request-log.ts). */
const logPath = (dataDir: string) => join(dataDir, "llm-proxy.sqlite");

/** The selection mode of the last logged request. */
function lastMode(dataDir: string): string | undefined {
  try {
    const db = new Database(logPath(dataDir), { readonly: true });
    try {
      return (db.query("SELECT selection_mode FROM requests ORDER BY id DESC LIMIT 1").get() as { selection_mode?: string } | null)?.selection_mode;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/** Bytes of the request log on disk (database and WAL) per logged request, once the proxy stopped. */
function logBytesPerRequest(dataDir: string): number {
  const path = logPath(dataDir);
  const bytes = [path, `${path}-wal`].reduce((n, p) => n + (existsSync(p) ? statSync(p).size : 0), 0);
  const db = new Database(path, { readonly: true });
  try {
    const { n } = db.query("SELECT COUNT(*) AS n FROM requests").get() as { n: number };
    return n ? bytes / n : 0;
  } finally {
    db.close();
  }
}

async function post(url: string, body: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
  await res.arrayBuffer();
  return res.status;
}

interface Result {
  target: string;
  mode: string;
  idle: number;
  coldMs: number;
  coldRss: number;
  warm: number;
  warmMode: string;
  addedP99: number;
  /** req/s vs direct, the same request every time. */
  sameRatio: number;
  /** req/s vs direct, distinct queries. */
  ratio: number;
  /** req/s through the proxy: the same request, distinct queries. */
  sameRps: number;
  rps: number;
  /** Request-log bytes on disk per logged request. */
  logBytes: number;
  samples: { t: number; rss: number }[];
  end: ReturnType<typeof memoryOf>;
  errors: number;
}

async function measure(target: string, mode: string, upstream: ServerProcess, embeddings: ServerProcess | undefined, bodyFile: string, distinctFile: string, body: string, dir: string): Promise<Result> {
  const sub = mkdtempSync(join(dir, `${target}-${mode}-`));
  const dataDir = join(sub, "data");
  const selection = selectionFor(mode);
  const upstreams = [{ name: "bench", type: "openai", base_url: upstream.url, models: ["bench-model"], max_retries: 0 }];
  if (embeddings) upstreams.push({ name: "embeddings", type: "openai", base_url: `${embeddings.url}/v1`, models: [], max_retries: 0 });
  const config = proxyConfig(sub, upstream.url, { selection, upstreams, ...JSON.parse(opts.config!) });
  const cmd = target === "executable" ? [outfileFor("linux-x64"), "--config", config] : ["bun", "run", "index.ts", "--config", config];
  const native: Record<string, string> = target === "executable" ? { LLM_PROXY_NATIVE_DIR: unpackedNative(dir) } : {};
  const proxy = await startServer(cmd, { ORT_DISABLE_TELEMETRY: "1", NODE_ENV: "production", LLM_PROXY_DATA_DIR: dataDir, ...native }, ROOT);
  try {
    await Bun.sleep(2000);
    const idle = proxy.rssMiB();
    const coldStart = performance.now();
    const statuses = await Promise.all(Array.from({ length: COLD_CLIENTS }, () => post(proxy.url, body)));
    const coldMs = performance.now() - coldStart;
    if (statuses.some((s) => s !== 200)) console.error(`  ! cold start statuses ${statuses.join(",")}`);
    const coldRss = proxy.rssMiB();
    // Warm: the model (hybrid) has answered once; then one more request, and RSS once it settled.
    const want = mode.startsWith("hybrid") ? "hybrid" : mode === "off" ? "off" : "lexical";
    let warmMode = "";
    for (let i = 0; i < 300 && warmMode !== want; i++) {
      await post(proxy.url, body);
      await Bun.sleep(100);
      warmMode = lastMode(dataDir) ?? "";
    }
    await post(proxy.url, body);
    await Bun.sleep(1000);
    const warm = proxy.rssMiB();

    const url = `${proxy.url}/v1/chat/completions`;
    const direct = `${upstream.url}/chat/completions`;
    const direct1 = await wrk(direct, distinctFile, 1, LATENCY_SECONDS);
    const proxied1 = await wrk(url, distinctFile, 1, LATENCY_SECONDS);
    const directSame = await wrk(direct, bodyFile, CONCURRENCY, 10);
    const same = await wrk(url, bodyFile, CONCURRENCY, 10);
    const directN = await wrk(direct, distinctFile, CONCURRENCY, 10);

    const samples: { t: number; rss: number }[] = [];
    const started = performance.now();
    const timer = setInterval(() => samples.push({ t: (performance.now() - started) / 1000, rss: proxy.rssMiB() }), SAMPLE * 1000);
    const load = await wrk(url, distinctFile, CONCURRENCY, DURATION);
    clearInterval(timer);
    samples.push({ t: (performance.now() - started) / 1000, rss: proxy.rssMiB() });
    const end = memoryOf(proxy.pid);
    await proxy.stop();
    return {
      target, mode, idle, coldMs, coldRss, warm, warmMode,
      addedP99: proxied1.p99Ms - direct1.p99Ms,
      sameRatio: same.rps / directSame.rps,
      ratio: load.rps / directN.rps,
      sameRps: same.rps,
      rps: load.rps,
      logBytes: logBytesPerRequest(dataDir),
      samples, end,
      errors: load.errors + proxied1.errors + same.errors,
    };
  } finally {
    await proxy.stop();
  }
}

async function main(): Promise<void> {
  if (!Bun.which("wrk")) throw new Error("wrk not found: install it with `apt-get install wrk` (Debian/Ubuntu)");
  if (TARGETS.includes("executable") && !opts["no-build"]) await buildTarget("linux-x64");
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-footprint-"));
  const bodyFile = join(dir, "request.json");
  const request = openaiRequest(false);
  const body = JSON.stringify(request);
  writeFileSync(bodyFile, body);
  const distinctFile = join(dir, "distinct.jsonl");
  const system = (request.messages as object[])[0]!;
  const conversations = readFileSync(DEV_SET, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).messages as object[]);
  writeFileSync(distinctFile, conversations.map((messages) => JSON.stringify({ ...request, messages: [system, ...messages] })).join("\n"));
  const upstream = await startServer(["bun", join(import.meta.dir, "fake-upstream.ts")]);
  const embeddings = MODES.includes("hybrid-upstream") ? await startServer(["bun", join(ROOT, "test", "fakes", "model-embeddings.ts")], { ORT_DISABLE_TELEMETRY: "1" }) : undefined;
  const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`llm-proxy footprint: Bun ${Bun.version}, ${cpus().length} x ${cpus()[0]?.model}; load average before: ${load()}`);
  console.log(`request ${body.length} bytes, 34 tools, ${conversations.length} distinct conversations; c=${CONCURRENCY} for ${DURATION} s per mode (RSS every ${SAMPLE} s); c=1 for ${LATENCY_SECONDS} s\n`);
  const results: Result[] = [];
  try {
    for (const target of TARGETS) {
      for (const mode of MODES) {
        const r = await measure(target, mode, upstream, mode === "hybrid-upstream" ? embeddings : undefined, bodyFile, distinctFile, body, dir);
        results.push(r);
        console.log(`  ${target} ${mode} done (load average ${load()})`);
      }
    }
  } finally {
    await upstream.stop();
    await embeddings?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\n### Memory (RSS MiB; load: c=${CONCURRENCY} for ${DURATION} s)\n`);
  console.log(
    table(
      ["target", "mode", "idle", `after ${COLD_CLIENTS} concurrent first requests`, "after first request (warm)", "end of load", "peak", "2nd-half trend MiB/min", "end: anon / file / onnxruntime"],
      results.map((r) => {
        const half = r.samples.filter((s) => s.t >= DURATION / 2);
        const trend = half.length >= 2 ? slope(half.map((s) => s.t / 60), half.map((s) => s.rss)) : 0;
        const peak = Math.max(...r.samples.map((s) => s.rss));
        return [r.target, r.mode, fmt(r.idle), fmt(r.coldRss), `${fmt(r.warm)}${r.warmMode && !r.mode.startsWith(r.warmMode) && !(r.mode === "hybrid-upstream" && r.warmMode === "hybrid") ? ` (${r.warmMode})` : ""}`, fmt(r.samples.at(-1)!.rss), fmt(peak), `${trend >= 0 ? "+" : ""}${fmt(trend, 2)}`, `${fmt(r.end.anon)} / ${fmt(r.end.file)} / ${fmt(r.end.onnxruntime)}`];
      }),
    ),
  );
  console.log(`\n### Throughput and latency\n`);
  console.log(
    table(
      ["target", "mode", `req/s vs direct, c=${CONCURRENCY}, same request (req/s)`, `req/s vs direct, c=${CONCURRENCY}, distinct queries (req/s)`, "added p99 ms, c=1, distinct queries", `${COLD_CLIENTS} concurrent first requests answered in ms`, "request log bytes / request", "errors"],
      results.map((r) => [r.target, r.mode, `${fmt(r.sameRatio, 2)} (${fmt(r.sameRps, 0)})`, `${fmt(r.ratio, 2)} (${fmt(r.rps, 0)})`, `${r.addedP99 >= 0 ? "+" : ""}${fmt(r.addedP99, 2)}`, fmt(r.coldMs, 0), fmt(r.logBytes, 0), r.errors]),
    ),
  );
  console.log(`\n### RSS over time (MiB)\n`);
  for (const r of results) console.log(`${r.target} ${r.mode}: ${r.samples.map((s) => `${fmt(s.t, 0)}s ${fmt(s.rss, 0)}`).join(", ")}`);
  console.log(`\nload average after: ${load()}`);
}

await main();
