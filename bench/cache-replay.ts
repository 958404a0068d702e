/**
 * Replay of a Home Assistant day against a real llama-server (../shared/llama-cpp), to measure what
 * tool selection does to the upstream's prompt cache (docs/tool-selection.md, "Cache-aware
 * selection"). The same sequence of requests (HA's system prompt and tool list, one command each,
 * plus multi-turn conversations sent turn by turn) goes, each time to a freshly started server:
 *
 *   direct       straight to llama-server with every tool;
 *   per_request  through llm-proxy, each request's own selection (`selection.cache: per_request`);
 *   stable       through llm-proxy with the stable working set (`selection.cache: stable`).
 *
 * Per case it prints the sum, p50 and p95 of `timings.prompt_ms` and of wall time, the prompt tokens
 * computed (`timings.prompt_n`: independent of machine load, the primary figure), the cached ones,
 * requests over an 8k context, cache busts (stable: working-set shrinks, with growths and transient
 * tails, which keep the prefix, in brackets; per_request: requests whose forwarded tool list differs
 * from the one before) and recall of the needed tools (dev-set labels;
 * records whose expected tools are not in the tool list are left out of recall).
 *
 *   bun bench/cache-replay.ts [--size tiny|small] [--tools 34|76|34,76] [--commands 60]
 *        [--cases direct,per_request,stable] [--port 20612] [--ctx 16384] [--interleave] [--verbose]
 *
 * `--interleave` runs the cases side by side, each on its own server (ports from --port on), one
 * request of each in turn, so that a machine whose load drifts during the run loads every case alike.
 *
 * The proxy runs in this process (hybrid selection with the offline embedding model of
 * ../shared/models when present). Replies are capped at one token: only prompt processing is measured.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startProxy, type TestProxy } from "../test/fakes/proxy.ts";
import { haDay, recall, type Step } from "./ha-day.ts";
import { haTools, systemPrompt } from "./ha-request.ts";

const shared = join(import.meta.dir, "../../shared");
const { values } = parseArgs({
  options: {
    size: { type: "string", default: "tiny" },
    tools: { type: "string", default: "34,76" },
    commands: { type: "string", default: "60" },
    cases: { type: "string", default: "direct,per_request,stable" },
    port: { type: "string", default: "20612" },
    ctx: { type: "string", default: "16384" },
    "max-tool-tokens": { type: "string", default: "" },
    verbose: { type: "boolean", default: false },
    interleave: { type: "boolean", default: false },
  },
});
const PORT = Number(values.port);
/** Home Assistant's Ollama integration asks for an 8k context (num_ctx 8192); a prompt above it would not fit. */
const HA_CONTEXT = 8192;

interface Result {
  promptMs: number;
  promptN: number;
  cacheN: number;
  promptTokens: number;
  wallMs: number;
  kept?: string[];
  change?: string | null;
}

async function startLlama(ctx: number, port: number): Promise<number> {
  const proc = Bun.spawnSync([join(shared, "llama-cpp/start.sh"), values.size!], { env: { ...process.env, PORT: String(port), CTX: String(ctx), THREADS: "1" }, stderr: "inherit" });
  const pid = Number(proc.stdout.toString().trim());
  if (!proc.success || !pid) throw new Error(`start.sh failed (exit ${proc.exitCode})`);
  return pid;
}

async function send(url: string, body: unknown): Promise<{ json: any; wallMs: number }> {
  const t0 = performance.now();
  // No client timeout (Bun's default is 300 s): a cold 12k-token prompt on `small` takes minutes under load.
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), timeout: false });
  const json = (await r.json()) as any;
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return { json, wallMs: performance.now() - t0 };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

interface Case {
  kind: string;
  pid: number;
  url: string;
  proxy?: TestProxy;
  results: Result[];
}

/** Starts a fresh llama-server on `port` and, unless direct, a proxy in front of it. */
async function openCase(kind: string, port: number): Promise<Case> {
  const pid = await startLlama(Number(values.ctx), port);
  if (kind === "direct") return { kind, pid, url: `http://127.0.0.1:${port}/v1/chat/completions`, results: [] };
  const modelsDir = join(shared, "models");
  const embedding = existsSync(join(modelsDir, "universal-sentence-encoder-lite-en"))
    ? // A long deadline: recall must not depend on how loaded the machine is (the 50 ms default falls back to lexical under load).
      { embedding_model: "universal-sentence-encoder-lite-en", models_dir: modelsDir, deadline_ms: 5000 }
    : { mode: "lexical" };
  const proxy = startProxy({
    upstreams: [{ name: "llama", type: "openai", base_url: `http://127.0.0.1:${port}/v1`, timeout_ms: 600_000 }],
    models: { default_model: "llama/qwen-random" },
    selection: { cache: kind, ...embedding, ...(values["max-tool-tokens"] ? { cache_max_tool_tokens: Number(values["max-tool-tokens"]) } : {}) },
  });
  if (embedding.models_dir) await proxy.runtime.selector.ready();
  return { kind, pid, url: `${proxy.url}/v1/chat/completions`, proxy, results: [] };
}

async function step(c: Case, tools: unknown[], s: Step): Promise<void> {
  const body = { model: c.kind === "direct" ? "qwen-random" : "llama/qwen-random", messages: [{ role: "system", content: systemPrompt() }, ...s.messages], tools, max_tokens: 1 };
  const { json, wallMs } = await send(c.url, body);
  const t = json.timings ?? {};
  c.results.push({ promptMs: t.prompt_ms ?? 0, promptN: t.prompt_n ?? 0, cacheN: t.cache_n ?? 0, promptTokens: json.usage?.prompt_tokens ?? 0, wallMs });
}

/** Reads the proxy's log into the results, then stops the case's servers. */
async function closeCase(c: Case, steps: Step[]): Promise<Result[]> {
  try {
    if (c.proxy) {
      // Under heavy load the log's Worker may not have written the last batch yet.
      let rows = c.proxy.rows();
      for (let t = 0; rows.length < c.results.length && t < 30; t++) rows = (await Bun.sleep(1000), c.proxy.rows());
      if (rows.length !== c.results.length) throw new Error(`the request log has ${rows.length} rows for ${c.results.length} requests`);
      rows.forEach((row, i) => Object.assign(c.results[i]!, { kept: JSON.parse((row.tools_kept as unknown as string) ?? "[]"), change: row.working_set_change }));
    }
    if (values.verbose) c.results.forEach((r, i) => console.log(`${c.kind} ${i} prompt_n ${r.promptN} cache_n ${r.cacheN} ms ${r.promptMs.toFixed(0)} ${r.change ?? ""} ${r.kept?.length ?? ""} ${steps[i]!.messages.at(-1)!.content}`));
    return c.results;
  } finally {
    c.proxy?.stop();
    process.kill(c.pid);
  }
}

function report(kind: string, results: Result[], steps: Step[], toolNames: Set<string>, direct?: Result[]) {
  const ms = results.map((r) => r.promptMs);
  const wall = results.map((r) => r.wallMs);
  const count = (c: string) => results.filter((r) => r.change === c).length;
  let busts = kind === "stable" ? `${count("shrunk")} (grown ${count("grown")}, tails ${count("tail")})` : "-";
  if (kind === "per_request") busts = String(results.filter((r, i) => i > 0 && JSON.stringify(r.kept) !== JSON.stringify(results[i - 1]!.kept)).length);
  // Direct forwards every tool.
  const [hits, scored] = recall(steps, (i) => (kind === "direct" ? toolNames : results[i]!.kept!), toolNames);
  const over = results.filter((r) => r.promptTokens > HA_CONTEXT).length;
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(2) : "-");
  const dMs = direct ? sum(direct.map((r) => r.promptMs)) : 0;
  const dN = direct ? sum(direct.map((r) => r.promptN)) : 0;
  const rest = (xs: number[]) => sum(xs.slice(1));
  return `| ${kind} | ${sum(results.map((r) => r.promptN))} | ${rest(results.map((r) => r.promptN))} | ${ratio(sum(results.map((r) => r.promptN)), dN)} | ${sum(results.map((r) => r.cacheN))} | ${(sum(ms) / 1000).toFixed(1)} | ${ratio(sum(ms), dMs)} | ${pct(ms, 50).toFixed(0)} | ${pct(ms, 95).toFixed(0)} | ${(sum(wall) / 1000).toFixed(1)} | ${pct(wall, 50).toFixed(0)} | ${pct(wall, 95).toFixed(0)} | ${Math.max(...results.map((r) => r.promptTokens))} | ${over} | ${busts} | ${(hits / Math.max(1, scored)).toFixed(3)} (${scored}) |`;
}

const steps = haDay(Number(values.commands));
console.log(`llama-server ${values.size} (THREADS=1, -c ${values.ctx}), ${steps.length} requests (${Number(values.commands)} single commands, 4 MCP requests, 4 two-turn conversations); load average at start ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const n of values.tools!.split(",").map(Number)) {
  const tools = haTools(n > 34);
  const names = new Set(tools.map((t: any) => t.function.name as string));
  console.log(`\n${n} tools\n`);
  console.log("| case | prompt tokens computed | of them after the first request | vs direct | cached tokens | prompt_ms sum (s) | vs direct | p50 ms | p95 ms | wall sum (s) | p50 ms | p95 ms | largest prompt | over 8k | cache busts | recall (scored) |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  let direct: Result[] | undefined;
  const kinds = values.cases!.split(",");
  const print = (kind: string, results: Result[]) => {
    if (kind === "direct") direct = results;
    console.log(report(kind, results, steps, names, direct));
  };
  if (values.interleave) {
    // Every case at once, on its own server, one request of each in turn: load drifts hit all alike.
    const cases = await Promise.all(kinds.map((kind, k) => openCase(kind, PORT + k)));
    for (const s of steps) for (const c of cases) await step(c, tools, s);
    for (const c of cases) print(c.kind, await closeCase(c, steps));
  } else {
    for (const kind of kinds) {
      const c = await openCase(kind, PORT);
      for (const s of steps) await step(c, tools, s);
      print(kind, await closeCase(c, steps));
    }
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}
