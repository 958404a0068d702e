/**
 * Compression benchmark (`bun bench/compression.ts`): runs the compress stage over generated Home
 * Assistant conversations (bench/ha-conversation.ts: 50-300 entities, 34-76 tools, 1-30 rounds) sent
 * as HA's Ollama integration sends them (`num_ctx` 8192, no num_predict: 1024 reply reserve) and prints
 *  1. the share of requests over the budget before and after the stage, and how often each step ran
 *     and what it saved (estimated tokens, from the request-log row the stage fills);
 *  2. the stage's latency, p50/p95 by request size, warm (the previous turn of the conversation went
 *     through before, as in a real conversation) and cold (empty count cache);
 *  3. with `--llama URL` (a llama-server with the Qwen2 tokenizer, e.g. /work/shared/llama-cpp
 *     start.sh tiny): how close the estimate gets to the real prompt, counted by the server
 *     (`/apply-template` then `/tokenize`), raw, calibrated (the stage's moving average over the
 *     requests in order) and with the safety margin; and how many requests the server would still
 *     refuse (Qwen count over num_ctx) after the stage.
 *
 *  4. with `--llama`: the prompt tokens llama-server evaluates per turn of one growing conversation
 *     (timings.prompt_n), for history_block 1, 2 and 4: how much of its prompt cache survives the cuts.
 *
 * Usage: bun bench/compression.ts [--n 200] [--seed 1] [--num-ctx 8192] [--llama http://127.0.0.1:20631] [--prefix-only]
 * Latency is wall time on a shared machine: report the load with it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Value } from "@sinclair/typebox/value";
import { Calibration, UNCALIBRATED } from "../src/compression/calibration.ts";
import { Draft } from "../src/compression/draft.ts";
import { seededRandom } from "../src/compression/random-drop.ts";
import { CompressionService } from "../src/compression/service.ts";
import { ConfigSchema, type Config } from "../src/config/schema.ts";
import { Exchange } from "../src/pipeline/exchange.ts";
import { compress } from "../src/pipeline/compress.ts";
import type { ChatContext } from "../src/pipeline/index.ts";
import { OLLAMA_EXTRAS } from "../src/protocol/ollama.ts";
import type { CanonicalRequest } from "../src/protocol/ollama-request.ts";
import type { ChatCompletionRequest } from "../src/protocol/openai.ts";
import type { RuntimeState } from "../src/runtime.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import type { RequestLogRow } from "../src/store/request-log.ts";
import { UpstreamState } from "../src/upstream/registry.ts";
import { haConversation, randomShape, type ConversationShape } from "./ha-conversation.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "200" },
    seed: { type: "string", default: "1" },
    "num-ctx": { type: "string", default: "8192" },
    llama: { type: "string" },
    "prefix-only": { type: "boolean", default: false },
  },
});
const N = Number(values.n);
const NUM_CTX = Number(values["num-ctx"]);
const dir = mkdtempSync(join(tmpdir(), "llm-proxy-bench-compression-"));

// Selection off before the stage (as with `selection.mode: off`), lexical in step 4: no embedding model needed.
const config = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, { data_dir: dir, selection: { mode: "lexical" } })) as Config;
const selector = new ToolSelector({ dataDir: dir, config: config.selection });
const upstream = new UpstreamState(Value.Default(ConfigSchema.properties.upstreams.items, { name: "bench", base_url: "http://127.0.0.1:9/v1" }) as any, 60_000);

/** Runs the stage on `request` with `service`; returns the log row, the request sent and the wall time (ms). */
async function runStage(service: CompressionService, request: ChatCompletionRequest) {
  const canonical: CanonicalRequest = { ...request, [OLLAMA_EXTRAS]: { options: { num_ctx: NUM_CTX } } };
  const exchange = new Exchange({ requestId: "bench", endpoint: "/api/chat", method: "POST" });
  const state = { config, compression: service, selector } as unknown as RuntimeState;
  const ctx: ChatContext = { state, exchange, target: { upstream, model: "bench-model" }, request: canonical };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await compress.run(ctx);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { row: exchange.row, sent: ctx.request, ms, cpuMs: (used.user + used.system) / 1000 };
}

/** A fixed piece of work (parsing a 64 KB JSON document) timed like the stage: how much of a p95 is this machine's load. */
const REFERENCE = JSON.stringify(Array.from({ length: 800 }, (_, i) => ({ id: i, name: `entity ${i}`, state: "on", area: "Kitchen" })));
function reference(): { ms: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  JSON.parse(REFERENCE);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const fmt = (x: number, d = 2) => (Number.isNaN(x) ? "-" : x.toFixed(d));
const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;

// The conversations, with the turn before each (same seed, one round less: what HA sent last time).
const random = seededRandom(Number(values.seed));
const cases: { shape: ConversationShape; request: ChatCompletionRequest; previous: ChatCompletionRequest }[] = [];
const main = !values["prefix-only"];
for (let i = 0; main && i < N; i++) {
  const shape = randomShape(random);
  const seed = Math.floor(random() * 2 ** 31);
  cases.push({ shape, request: haConversation(shape, seed), previous: haConversation({ ...shape, rounds: Math.max(1, shape.rounds - 1) }, seed) });
}
// ~16k-token requests (150 entities, 50 tools, 12 rounds) for the latency target.
for (let i = 0; main && i < 40; i++) {
  const shape = { entities: 150, tools: 50, rounds: 12 };
  cases.push({ shape, request: haConversation(shape, 10_000 + i), previous: haConversation({ ...shape, rounds: 11 }, 10_000 + i) });
}

// Warm-up: the encoder and the selector's index load once per process.
{
  const warm = new CompressionService(dir);
  await runStage(warm, haConversation({ entities: 100, tools: 50, rounds: 10 }, 1));
  await warm.estimator.settle();
}

interface Result {
  row: RequestLogRow;
  sent: ChatCompletionRequest;
  warmMs: number;
  warmCpuMs: number;
  coldMs: number;
  refMs: number;
  refCpuMs: number;
  /** o200k_base estimate of the whole request, as counted (after the background counts). */
  exactBefore: number;
}
const service = new CompressionService(join(dir, "warm"));
const results: Result[] = [];
for (const c of cases) {
  const cold = new CompressionService(join(dir, "cold"));
  const coldRun = await runStage(cold, c.request);
  // Its background counts must not run during the warm measurement.
  await cold.estimator.settle();
  await runStage(service, c.previous);
  await service.estimator.settle();
  const { row, sent, ms, cpuMs } = await runStage(service, c.request);
  const ref = reference();
  await service.estimator.settle();
  const exactBefore = new Draft(c.request, service.estimator).total;
  results.push({ row, sent, warmMs: ms, warmCpuMs: cpuMs, coldMs: coldRun.ms, refMs: ref.ms, refCpuMs: ref.cpuMs, exactBefore });
}

const budget = NUM_CTX - config.compression.reply_reserve;
const generated = results.slice(0, N);
if (main) {
  console.log(`\n## ${N} generated conversations, num_ctx ${NUM_CTX} (budget ${budget} after the 1024-token reply reserve), load ${loadavg().map((x) => x.toFixed(1)).join(" ")}\n`);
  const over = (r: Result) => (r.row.prompt_tokens_estimated ?? 0) > budget;
  const stillOver = (r: Result) => r.row.compression_steps?.["over budget"] !== undefined;
  console.log("| | requests | over budget before | over budget after | mean est. tokens before | mean est. tokens after |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  const line = (name: string, rs: Result[]) =>
    console.log(
      `| ${name} | ${rs.length} | ${pct(rs.filter(over).length, rs.length)} | ${pct(rs.filter(stillOver).length, rs.length)} | ${Math.round(mean(rs.map((r) => r.row.prompt_tokens_estimated!)))} | ${Math.round(mean(rs.map((r) => r.row.prompt_tokens_estimated_after!)))} |`,
    );
  const by = (test: (shape: ConversationShape) => boolean) => generated.filter((_, i) => test(cases[i]!.shape));
  line("all", generated);
  line("1-3 rounds", by((s) => s.rounds <= 3));
  line("4-10 rounds", by((s) => s.rounds > 3 && s.rounds <= 10));
  line("11-30 rounds", by((s) => s.rounds > 10));
  line("50-100 entities", by((s) => s.entities <= 100));
  line("101-200 entities", by((s) => s.entities > 100 && s.entities <= 200));
  line("201-300 entities", by((s) => s.entities > 200));
  line("34-50 tools", by((s) => s.tools <= 50));
  line("51-76 tools", by((s) => s.tools > 50));

  console.log("\n### Steps (requests over budget)\n");
  console.log("| step | ran in | est. tokens saved, mean when it ran | total |");
  console.log("| --- | ---: | ---: | ---: |");
  const compressed = generated.filter(over);
  for (const step of ["lossless", "tool-results", "history", "tools", "over budget"]) {
    const ran = compressed.map((r) => r.row.compression_steps?.[step]).filter((x): x is number => x !== undefined);
    console.log(`| ${step}${step === "over budget" ? " (tokens still over)" : ""} | ${pct(ran.length, compressed.length)} | ${Math.round(mean(ran))} | ${ran.reduce((s, x) => s + x, 0)} |`);
  }
  console.log(`\nmessages dropped per compressed request: ${fmt(mean(compressed.map((r) => r.row.messages_dropped ?? 0)), 1)}, tool results cut: ${fmt(mean(compressed.map((r) => r.row.messages_truncated ?? 0)), 1)}`);

  console.log("\n### Stage latency (ms, whole stage: budget, estimate, steps; wall clock and process CPU time)\n");
  console.log("| requests (o200k tokens) | n | warm p50 | warm p95 | warm CPU p50 | warm CPU p95 | cold p50 | cold p95 |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const buckets: [string, (r: Result) => boolean][] = [
    ["< 8k", (r) => r.exactBefore < 8000],
    ["8k-14k", (r) => r.exactBefore >= 8000 && r.exactBefore < 14000],
    ["14k-18k", (r) => r.exactBefore >= 14000 && r.exactBefore < 18000],
    [">= 18k", (r) => r.exactBefore >= 18000],
    ["all", () => true],
  ];
  for (const [name, test] of buckets) {
    const rs = results.filter(test);
    const w = rs.map((r) => r.warmMs);
    const wc = rs.map((r) => r.warmCpuMs);
    const c = rs.map((r) => r.coldMs);
    console.log(`| ${name} | ${rs.length} | ${fmt(quantile(w, 0.5))} | ${fmt(quantile(w, 0.95))} | ${fmt(quantile(wc, 0.5))} | ${fmt(quantile(wc, 0.95))} | ${fmt(quantile(c, 0.5))} | ${fmt(quantile(c, 0.95))} |`);
  }
  {
    const w = results.map((r) => r.refMs);
    const wc = results.map((r) => r.refCpuMs);
    console.log(`| reference: JSON.parse of 64 KB, timed after each warm run | ${results.length} | ${fmt(quantile(w, 0.5))} | ${fmt(quantile(w, 0.95))} | ${fmt(quantile(wc, 0.5))} | ${fmt(quantile(wc, 0.95))} | | |`);
  }
  console.log(`\nestimator after the run: ${JSON.stringify(service.estimator.stats())}`);
}

if (values.llama) {
  const base = values.llama.replace(/\/+$/, "");
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  /** The prompt llama-server would evaluate for `request`, in Qwen2 tokens. */
  const qwenTokens = async (request: ChatCompletionRequest) => {
    const { prompt } = await post("/apply-template", { messages: request.messages, tools: request.tools });
    return ((await post("/tokenize", { content: prompt })).tokens as number[]).length;
  };
  if (main) {
    const sample = results.slice(0, Math.min(N, 120));
    const margin = config.compression.safety_margin;
    // Ablation: one factor per model (a moving average, weight 0.1) against the stage's two weights (calibration.ts).
    let factor: number | undefined;
    const calibration = new Calibration(join(dir, "accuracy"));
    const rows: { raw: number; cold: number; qwen: number; oneFactor: number; twoWeights: number; sentQwen: number }[] = [];
    for (const r of sample) {
      const request = cases[results.indexOf(r)]!.request;
      const qwen = await qwenTokens(request);
      const sentQwen = r.sent === request ? qwen : await qwenTokens(r.sent);
      const exact = new Draft(request, service.estimator, calibration.weights("qwen"));
      const oneFactor = r.exactBefore * (factor ?? UNCALIBRATED);
      const cold = new Draft(request, new CompressionService(join(dir, "acc")).estimator).total;
      rows.push({ raw: r.exactBefore, cold, qwen, oneFactor, twoWeights: exact.total, sentQwen });
      // Learning from every answered request, in order, as the stage does.
      const ratio = qwen / r.exactBefore;
      factor = factor === undefined ? ratio : factor + 0.1 * (ratio - factor);
      calibration.observe("qwen", exact.messagesRaw, exact.toolsRaw, qwen);
    }
    const ratios = rows.map((x) => x.qwen / x.raw);
    const coldRatios = rows.map((x) => x.qwen / x.cold);
    console.log(`\n## Estimate vs the real Qwen2 prompt (llama-server /apply-template + /tokenize, ${rows.length} requests)\n`);
    console.log("| estimate | Qwen tokens / estimate: mean | p5 | p95 | min | max | requests under-estimated by > margin |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    const show = (name: string, xs: number[]) =>
      console.log(`| ${name} | ${fmt(mean(xs), 3)} | ${fmt(quantile(xs, 0.05), 3)} | ${fmt(quantile(xs, 0.95), 3)} | ${fmt(Math.min(...xs), 3)} | ${fmt(Math.max(...xs), 3)} | ${pct(xs.filter((x) => x > 1 + margin).length, xs.length)} |`);
    show("o200k linear estimate (counts cached)", ratios);
    show(`estimate x ${UNCALIBRATED} (a model not yet calibrated)`, ratios.map((x) => x / UNCALIBRATED));
    show(`cold: length-based, empty cache, x ${UNCALIBRATED}`, coldRatios.map((x) => x / UNCALIBRATED));
    show("calibrated, one factor (moving average), after 10 requests", rows.slice(10).map((x) => x.qwen / x.oneFactor));
    show("calibrated, two weights (the stage), after 10 requests", rows.slice(10).map((x) => x.qwen / x.twoWeights));
    const refused = rows.filter((x) => x.sentQwen > NUM_CTX).length;
    const refusedBefore = rows.filter((x) => x.qwen > NUM_CTX).length;
    console.log(`\nllama-server (-c ${NUM_CTX}) would refuse ${pct(refusedBefore, rows.length)} of these requests as sent by HA, ${pct(refused, rows.length)} after the stage (not calibrated, margin ${margin * 100}%); after the stage ${pct(rows.filter((x) => x.sentQwen > budget).length, rows.length)} exceed the budget (window - reply reserve) in Qwen tokens.`);
    const w = calibration.weights("qwen");
    console.log(`final one factor: ${fmt(factor ?? NaN, 3)}; final weights: messages ${fmt(w.messages, 3)}, tools ${fmt(w.tools, 3)}`);
  }

  // 4. Prefix reuse: one conversation growing turn by turn, each turn compressed and sent to
  // llama-server; timings.prompt_n counts the prompt tokens it had to evaluate (not served from its
  // KV/prompt cache). Load-independent.
  console.log(`\n## Prompt tokens llama-server evaluates per turn (timings.prompt_n), one conversation of 60 entities and 34 tools, turns 6-30\n`);
  console.log("| history_block | turns | prompt tokens sent, mean | evaluated (prompt_n), mean | evaluated / sent | turns the history cut moved | turns evaluated from the end of the system prompt and tools |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const first = haConversation({ entities: 60, tools: 34, rounds: 6 }, 777);
  // The part every turn shares: the system prompt and the tools the template renders after it.
  const prefix = await qwenTokens({ ...first, messages: [first.messages[0]!] });
  for (const block of [1, 2, 4]) {
    config.compression.history_block = block;
    const turnService = new CompressionService(join(dir, `turns-${block}`));
    let sentSum = 0;
    let evaluated = 0;
    let full = 0;
    let turns = 0;
    let moved = 0;
    let firstKept: unknown;
    for (let rounds = 6; rounds <= 30; rounds++) {
      const request = haConversation({ entities: 60, tools: 34, rounds }, 777);
      const { sent } = await runStage(turnService, request);
      await turnService.estimator.settle();
      const kept = JSON.stringify(sent.messages.find((m) => m.role !== "system"));
      if (turns > 0 && kept !== firstKept) moved++;
      firstKept = kept;
      const reply = await post("/v1/chat/completions", { messages: sent.messages, tools: sent.tools, max_tokens: 1, cache_prompt: true });
      const t = reply.timings as { prompt_n: number; cache_n: number };
      sentSum += t.prompt_n + t.cache_n;
      evaluated += t.prompt_n;
      // nothing after the shared prefix came from the cache: the whole history was evaluated again
      if (t.cache_n <= prefix) full++;
      turns++;
    }
    console.log(`| ${block} | ${turns} | ${Math.round(sentSum / turns)} | ${Math.round(evaluated / turns)} | ${fmt(evaluated / sentSum, 3)} | ${moved} | ${full} |`);
  }
  config.compression.history_block = 1;
}

selector.close();
rmSync(dir, { recursive: true, force: true });
