/**
 * Benchmarks of llm-proxy (`bun run bench`; results and method in docs/benchmarks.md).
 *
 * Everything on loopback, every server in its own process: the lean fake upstream
 * (bench/fake-upstream.ts), the proxy from source (`bun run index.ts`), the compiled executable,
 * and wrk as the load generator (`apt-get install wrk`). In the same run, wrk sends a Home
 * Assistant sized request (bench/ha-request.ts) straight to the upstream and through each proxy;
 * the difference is what the proxy adds. A bare Bun pass-through (bench/bare-proxy.ts) runs in the
 * same way, as the floor any proxy written in Bun pays for the extra hop on this machine, and again
 * with `--parse` (JSON.parse of every body), the floor of a proxy that must read the request.
 * A third proxy runs with AUGMENTED_MODELS augmented model files loaded: its pass-through rows show
 * what they cost a model that is not augmented (nothing, by design), and one more table the cost
 * of the tool loop for an augmented model whose answer calls no tool.
 *
 *   bun run bench [--seconds 5] [--warmup 1] [--no-build]
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import pkg from "../package.json" with { type: "json" };
import { buildTarget, outfileFor } from "../scripts/build.ts";
import { ollamaRequest, openaiRequest } from "./ha-request.ts";
import { startServer, type ServerProcess } from "./process.ts";
import { proxyConfig as benchConfig } from "./proxy-config.ts";
import { wrk, type LoadResult } from "./wrk.ts";

const ROOT = join(import.meta.dir, "..");
const CONCURRENCY = [1, 32, 256];
const OLLAMA_CONCURRENCY = [1, 32];
const PROXY_ENV = { ORT_DISABLE_TELEMETRY: "1", NODE_ENV: "production" };
/** Augmented models loaded by the third proxy: more than a household defines, so a per-request cost would show. */
const AUGMENTED_MODELS = 20;

const { values: opts } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, warmup: { type: "string", default: "1" }, "no-build": { type: "boolean" } },
});
const SECONDS = Number(opts.seconds);
const WARMUP = Number(opts.warmup);

interface Proxy {
  name: string;
  server: ServerProcess;
  firstResponseMs: number;
  idleMiB: number;
  peakMiB: number;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const sign = (n: number, digits = 2) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;

function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * The proxy's config for the benchmark: one upstream, request log on (bodies off), tool selection
 * off; with `augmented`, that many augmented model files (`augmented/bench-N`) beside it.
 */
function proxyConfig(dir: string, upstreamUrl: string, augmented = 0): string {
  if (augmented > 0) mkdirSync(join(dir, "models"));
  for (let i = 0; i < augmented; i++) {
    const model = { name: `augmented/bench-${i}`, upstream_model: "bench/bench-model", system_prompt: "It is {{get_current_time(format=\"iso\")}}.", tools: ["get_current_time", "calculator"] };
    writeFileSync(join(dir, "models", `bench-${i}.yml`), stringify(model));
  }
  return benchConfig(dir, upstreamUrl);
}

async function startProxy(name: string, cmd: string[], dir: string): Promise<Proxy> {
  const started = performance.now();
  const server = await startServer(cmd, { ...PROXY_ENV, LLM_PROXY_DATA_DIR: join(dir, "data") }, ROOT);
  const res = await fetch(`${server.url}/health`);
  await res.arrayBuffer();
  const firstResponseMs = performance.now() - started;
  await Bun.sleep(2000);
  return { name, server, firstResponseMs, idleMiB: server.rssMiB(), peakMiB: 0 };
}

/** One measured wrk run after a warm-up run; records the proxy's peak RSS. */
async function measure(url: string, body: string, connections: number, proxy?: Proxy): Promise<LoadResult> {
  await wrk(url, body, connections, WARMUP);
  const stopSampling = proxy?.server.samplePeak();
  const result = await wrk(url, body, connections, SECONDS);
  if (proxy && stopSampling) proxy.peakMiB = Math.max(proxy.peakMiB, stopSampling());
  if (result.errors > 0) console.error(`  ! ${result.errors} errors from ${url} at c=${connections}`);
  return result;
}

async function main(): Promise<void> {
  if (!Bun.which("wrk")) throw new Error("wrk not found: install it with `apt-get install wrk` (Debian/Ubuntu)");
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-bench-"));
  const bodies: Record<string, string> = {};
  for (const [name, body] of Object.entries({
    openai: openaiRequest(false),
    "openai-stream": openaiRequest(true),
    augmented: { ...openaiRequest(false), model: "augmented/bench-0" },
    "augmented-stream": { ...openaiRequest(true), model: "augmented/bench-0" },
    ollama: ollamaRequest(false),
    "ollama-stream": ollamaRequest(true),
  })) {
    bodies[name] = join(dir, `${name}.json`);
    writeFileSync(bodies[name], JSON.stringify(body));
  }
  const requestBytes = statSync(bodies.openai!).size;

  const builds: (string | number)[][] = [];
  if (!opts["no-build"]) {
    for (const target of ["linux-x64", "linux-arm64"] as const) {
      const { seconds, bytes } = await buildTarget(target);
      builds.push([target, fmt(seconds, 1), fmt(bytes / 2 ** 20, 1)]);
    }
  } else {
    builds.push(["linux-x64", "(not rebuilt)", fmt(statSync(outfileFor("linux-x64")).size / 2 ** 20, 1)]);
  }

  const upstream = await startServer(["bun", join(import.meta.dir, "fake-upstream.ts")]);
  const bare = await startServer(["bun", join(import.meta.dir, "bare-proxy.ts"), upstream.url]);
  const bareParse = await startServer(["bun", join(import.meta.dir, "bare-proxy.ts"), upstream.url, "--parse"]);
  const proxies = [
    await startProxy("bun run index.ts", ["bun", "run", "index.ts", "--config", proxyConfig(mkdtempSync(join(dir, "src-")), upstream.url), "--port", "0"], dir),
    await startProxy("executable", [outfileFor("linux-x64"), "--config", proxyConfig(mkdtempSync(join(dir, "exe-")), upstream.url), "--port", "0"], dir),
    await startProxy(`bun run index.ts, ${AUGMENTED_MODELS} augmented models loaded`, ["bun", "run", "index.ts", "--config", proxyConfig(mkdtempSync(join(dir, "aug-")), upstream.url, AUGMENTED_MODELS), "--port", "0"], dir),
  ];
  const augmentedProxy = proxies[2]!;

  const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`llm-proxy ${pkg.version}, Bun ${Bun.version}, wrk; ${cpus().length} x ${cpus()[0]?.model}`);
  console.log(`request ${requestBytes} bytes, 34 tools; ${SECONDS} s per run after ${WARMUP} s warm-up; load average before: ${load()}\n`);

  const passRows: (string | number)[][] = [];
  for (const stream of [false, true]) {
    const body = bodies[stream ? "openai-stream" : "openai"]!;
    for (const c of CONCURRENCY) {
      const direct = await measure(`${upstream.url}/chat/completions`, body, c);
      passRows.push([stream ? "stream" : "non-stream", c, "direct", fmt(direct.rps, 0), fmt(direct.p50Ms), fmt(direct.p99Ms), "", "", ""]);
      const targets: [string, string, Proxy | undefined][] = [
        ["bare Bun proxy (floor)", `${bare.url}/v1/chat/completions`, undefined],
        ["bare Bun proxy + JSON.parse", `${bareParse.url}/v1/chat/completions`, undefined],
        ...proxies.map((p): [string, string, Proxy] => [p.name, `${p.server.url}/v1/chat/completions`, p]),
      ];
      for (const [name, url, p] of targets) {
        const r = await measure(url, body, c, p);
        passRows.push([
          "", "", name, fmt(r.rps, 0), fmt(r.p50Ms), fmt(r.p99Ms),
          sign(r.p50Ms - direct.p50Ms), sign(r.p99Ms - direct.p99Ms), `${fmt((100 * r.rps) / direct.rps, 0)}%`,
        ]);
      }
      console.log(`  pass-through ${stream ? "stream" : "non-stream"} c=${c} done`);
    }
  }

  const ollamaRows: (string | number)[][] = [];
  const probe = await fetch(`${proxies[0]!.server.url}/api/chat`, { method: "POST", body: Bun.file(bodies.ollama!) });
  await probe.arrayBuffer();
  if (probe.ok) {
    for (const stream of [false, true]) {
      for (const c of OLLAMA_CONCURRENCY) {
        for (const p of proxies) {
          const v1 = await measure(`${p.server.url}/v1/chat/completions`, bodies[stream ? "openai-stream" : "openai"]!, c, p);
          const api = await measure(`${p.server.url}/api/chat`, bodies[stream ? "ollama-stream" : "ollama"]!, c, p);
          ollamaRows.push([
            stream ? "stream" : "non-stream", c, p.name, fmt(v1.p50Ms), fmt(api.p50Ms), sign(api.p50Ms - v1.p50Ms),
            fmt(v1.p99Ms), fmt(api.p99Ms), fmt(v1.rps, 0), fmt(api.rps, 0),
          ]);
        }
        console.log(`  ollama front ${stream ? "stream" : "non-stream"} c=${c} done`);
      }
    }
  } else {
    console.log(`  ollama front skipped: POST /api/chat answered ${probe.status}`);
  }

  const augmentedRows: (string | number)[][] = [];
  for (const stream of [false, true]) {
    for (const c of OLLAMA_CONCURRENCY) {
      const plain = await measure(`${augmentedProxy.server.url}/v1/chat/completions`, bodies[stream ? "openai-stream" : "openai"]!, c, augmentedProxy);
      const loop = await measure(`${augmentedProxy.server.url}/v1/chat/completions`, bodies[stream ? "augmented-stream" : "augmented"]!, c, augmentedProxy);
      augmentedRows.push([stream ? "stream" : "non-stream", c, fmt(plain.p50Ms), fmt(loop.p50Ms), sign(loop.p50Ms - plain.p50Ms), fmt(plain.p99Ms), fmt(loop.p99Ms), fmt(plain.rps, 0), fmt(loop.rps, 0)]);
    }
    console.log(`  augmented ${stream ? "stream" : "non-stream"} done`);
  }

  console.log(`  load average after: ${load()} (other work on the machine skews the numbers)`);
  await Bun.sleep(3000);
  const memRows = proxies.map((p) => [p.name, fmt(p.firstResponseMs, 0), fmt(p.idleMiB, 1), fmt(p.peakMiB, 1), fmt(p.server.rssMiB(), 1)]);
  for (const p of proxies) await p.server.stop();
  await bare.stop();
  await bareParse.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });

  console.log("\n### Pass-through: /v1/chat/completions, direct vs through the proxy (latency ms)\n");
  console.log(table(["mode", "concurrency", "target", "req/s", "p50", "p99", "added p50", "added p99", "req/s vs direct"], passRows));
  if (ollamaRows.length) {
    console.log("\n### Ollama front: /api/chat vs /v1/chat/completions through the proxy, OpenAI upstream (latency ms)\n");
    console.log(table(["mode", "concurrency", "proxy", "/v1 p50", "/api/chat p50", "extra p50", "/v1 p99", "/api/chat p99", "/v1 req/s", "/api/chat req/s"], ollamaRows));
  }
  console.log("\n### Augmented model (tool loop, answer without tool calls) vs the plain model, same proxy (latency ms)\n");
  console.log(table(["mode", "concurrency", "plain p50", "augmented p50", "extra p50", "plain p99", "augmented p99", "plain req/s", "augmented req/s"], augmentedRows));
  console.log("\n### Memory and start-up\n");
  console.log(table(["proxy", "first response ms (spawn to /health)", "idle RSS MiB", "peak RSS under load MiB", "RSS after load MiB"], memRows));
  console.log("\n### Build\n");
  console.log(table(["target", "build s", "size MiB"], builds));
}

await main();
