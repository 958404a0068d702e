/**
 * Tool-selection evaluation (`bun run eval:tools`): ranks the queries of a labelled JSONL file
 * against a tool list with the real selector (Worker embedder, caches) and prints, per mode and for
 * k = 3, 5, 8, recall@k overall, per source, multi-turn and "all" cases, the mean number of tools
 * kept (also for no-tool queries), the mean tools-payload token reduction, how many requests failed
 * open (every tool kept) or kept at most `small_talk_keep` ranked tools, and the selection latency.
 *
 * Metrics follow ../shared/datasets/tool-selection/README.md: a hit needs one expected tool kept (all
 * of them for `"all": true`); recall is over the kept set (ranked tools plus related ones), and
 * "ranked@k" is the same over the first k ranked tools alone. Tokens: o200k_base, per tool's
 * minified JSON. Latency: per request, tool embeddings cached, query-embedding cache emptied before
 * each pass (so every query is embedded), default 50 ms deadline (`--config '{"deadline_ms":10000}'`
 * leaves no fallback, for comparisons of recall alone).
 *
 * Usage: bun run eval:tools [FILE | --data FILE | --set NAME] [--tools FILE]... [--modes hybrid,lexical,semantic]
 *        [--k 3,5,8] [--model ID] [--models-dir DIR] [--config JSON] [--repeat N] [--embeddings openai|ollama] [--misses]
 * `--set` names a query set with its tool list: ha (the default), general
 * (../shared/datasets/tool-selection-general/), heldout, blind, multilingual-ha, multilingual-general
 * (bench/data/). `--config` merges a JSON object into the `selection` section (e.g.
 * '{"keep_within":0}' or '{"packs":[]}'), for curves and ablations. `--repeat N` times each request
 * as the least of N cold runs (for latency on a busy machine; recall is that of the first run).
 * `--embeddings` takes the embeddings from an upstream of that type instead of the Worker
 * (`selection.embeddings`): a server process serving the offline model (test/fakes/model-embeddings.ts).
 * `--misses` also prints, per mode and k, recall per `category` (records that have one) and every
 * missed query with the best-ranked tools.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema, UpstreamSchema, type SelectionConfig, type UpstreamConfig } from "../src/config/schema.ts";
import type { ChatMessage, Tool } from "../src/protocol/openai.ts";
import type { SelectionMode } from "../src/selection/rank.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { startServer } from "./process.ts";

const shared = join(import.meta.dir, "../../shared");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: "string", default: join(shared, "datasets/tool-selection/dev.jsonl") },
    tools: { type: "string", multiple: true },
    modes: { type: "string", default: "hybrid,lexical,semantic" },
    k: { type: "string", default: "3,5,8" },
    model: { type: "string", default: "universal-sentence-encoder-lite-en" },
    "models-dir": { type: "string", default: join(shared, "models") },
    misses: { type: "boolean", default: false },
    set: { type: "string" },
    config: { type: "string", default: "{}" },
    repeat: { type: "string", default: "1" },
    embeddings: { type: "string" },
  },
});
const haTools = [join(shared, "datasets/tool-selection/tools/ha-assist.json"), join(shared, "datasets/tool-selection/tools/extra-mcp.json")];
const generalTools = [join(shared, "datasets/tool-selection-general/tools.json")];
const SETS: { [name: string]: { data: string; tools: string[] } } = {
  ha: { data: join(shared, "datasets/tool-selection/dev.jsonl"), tools: haTools },
  general: { data: join(shared, "datasets/tool-selection-general/dev.jsonl"), tools: generalTools },
  heldout: { data: join(import.meta.dir, "data/heldout.jsonl"), tools: haTools },
  blind: { data: join(import.meta.dir, "data/heldout-blind.jsonl"), tools: haTools },
  "multilingual-ha": { data: join(import.meta.dir, "data/multilingual-ha.jsonl"), tools: haTools },
  "multilingual-general": { data: join(import.meta.dir, "data/multilingual-general.jsonl"), tools: generalTools },
};
if (values.set && !SETS[values.set]) throw new Error(`--set: unknown set ${values.set} (${Object.keys(SETS).join(", ")})`);
const preset = values.set ? SETS[values.set] : undefined;
const dataFile = positionals[0] ?? preset?.data ?? values.data!;
const repeat = Math.max(1, Number(values.repeat));

interface Record {
  id: string;
  messages: ChatMessage[];
  expected: string[];
  all?: boolean;
  source: string;
  category?: string;
}

const toolFiles = values.tools ?? preset?.tools ?? haTools;
const tools: Tool[] = toolFiles.flatMap((f) => JSON.parse(readFileSync(f, "utf8")) as Tool[]);
const records: Record[] = readFileSync(dataFile, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
const dataDir = mkdtempSync(join(tmpdir(), "llm-proxy-eval-"));
const embeddingServer = values.embeddings ? await startServer(["bun", join(import.meta.dir, "..", "test", "fakes", "model-embeddings.ts")]) : undefined;
const upstream = embeddingServer && (Value.Default(UpstreamSchema, { name: "embeddings", type: values.embeddings, base_url: `${embeddingServer.url}${values.embeddings === "openai" ? "/v1" : ""}` }) as UpstreamConfig);
const config = Value.Default(SelectionSchema, {
  embedding_model: values.model,
  models_dir: values["models-dir"],
  ...(upstream ? { embeddings: { upstream: upstream.name, model: values.model } } : {}),
  ...JSON.parse(values.config!),
}) as SelectionConfig;
const selector = new ToolSelector({ dataDir, config, upstream: () => upstream });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const fmt = (hits: number, n: number) => (n ? (hits / n).toFixed(3) : "-");
const sourceOf = (r: Record) => r.source.split(":")[0]!;

interface Counter {
  hits: number;
  n: number;
}
const counter = (): Counter => ({ hits: 0, n: 0 });

async function pass(mode: SelectionMode, k: number) {
  const settings = resolveSettings({ ...config, mode, keep: k }, []);
  selector.forgetQueries();
  const overall = counter();
  const ranked = counter();
  const multi = counter();
  const all = counter();
  const bySource = new Map<string, Counter>();
  const byCategory = new Map<string, Counter>();
  const misses: string[] = [];
  const ms: number[] = [];
  let kept = 0;
  let noToolKept = 0;
  let noTool = 0;
  let reduction = 0;
  let fallbacks = 0;
  let failOpen = 0;
  let smallTalk = 0;
  for (const r of records) {
    const result = (await selector.select({ model: "eval", messages: r.messages, tools }, settings))!;
    // --repeat N: the request's time is the least of N cold runs (query embeddings forgotten), which a busy machine disturbs least.
    let least = result.ms;
    for (let n = 1; n < repeat; n++) {
      selector.forgetQueries();
      least = Math.min(least, (await selector.select({ model: "eval", messages: r.messages, tools }, settings))!.ms);
    }
    ms.push(least);
    if (result.mode !== mode) fallbacks++;
    if (result.decisions.some((d) => d.reason.startsWith("fail open"))) failOpen++;
    else if (result.kept.length <= settings.small_talk_keep && result.decisions.filter((d) => d.kept).every((d) => d.reason.startsWith("rank"))) smallTalk++;
    kept += result.kept.length;
    reduction += 1 - result.tokensAfter / result.tokensBefore;
    const names = new Set(result.kept.map((t) => t.function.name));
    if (r.expected.length === 0) {
      noTool++;
      noToolKept += names.size;
      continue;
    }
    const top = new Set(result.decisions.filter((d) => !d.reason.startsWith("called")).sort((a, b) => a.rank - b.rank).slice(0, k).map((d) => d.name));
    const hitIn = (set: Set<string>) => (r.all ? r.expected.every((e) => set.has(e)) : r.expected.some((e) => set.has(e)));
    const hit = hitIn(names);
    const add = (c: Counter, h = hit) => {
      c.n++;
      if (h) c.hits++;
    };
    add(overall);
    add(ranked, hitIn(top));
    if (r.messages.length > 1) add(multi);
    if (r.all) add(all);
    if (!bySource.has(sourceOf(r))) bySource.set(sourceOf(r), counter());
    add(bySource.get(sourceOf(r))!);
    if (r.category) {
      if (!byCategory.has(r.category)) byCategory.set(r.category, counter());
      add(byCategory.get(r.category)!);
    }
    if (!hit) {
      const best = [...result.decisions].sort((a, b) => a.rank - b.rank).slice(0, k).map((d) => `${d.name} ${d.fused.toFixed(2)}`);
      const wanted = r.expected.map((e) => `${e} #${result.decisions.find((d) => d.name === e)?.rank}`);
      misses.push(`${r.id} ${JSON.stringify(r.messages.at(-1)?.content)} want ${wanted.join(", ")}; got ${best.join(", ")}`);
    }
  }
  return { overall, ranked, multi, all, bySource, byCategory, misses, ms, kept: kept / records.length, noToolKept: noTool ? noToolKept / noTool : 0, reduction: reduction / records.length, fallbacks, failOpen, smallTalk };
}

async function main() {
  const modes = values.modes!.split(",") as SelectionMode[];
  const ks = values.k!.split(",").map(Number);
  // Warm-up: load the model and embed the tool list once (the steady state of a running proxy).
  if (modes.some((m) => m !== "lexical")) {
    const loaded = await selector.ready();
    if (!loaded) console.error("embedding model could not be loaded: hybrid and semantic run lexical-only");
    const warm = resolveSettings({ ...config, deadline_ms: 60_000 }, []);
    await selector.select({ model: "eval", messages: [{ role: "user", content: "warm up" }], tools }, warm);
  }
  const sources = [...new Set(records.map(sourceOf))];
  const withExpected = records.filter((r) => r.expected.length > 0).length;
  console.log(`data: ${dataFile} (${records.length} queries, ${withExpected} with expected tools)`);
  console.log(`tools: ${toolFiles.join(" + ")} (${tools.length} tools); model: ${values.model}${upstream ? ` served by an ${upstream.type} upstream (${upstream.base_url})` : ""}`);
  console.log("");
  console.log(`| mode | k | recall@k | ranked@k | ${sources.map((s) => `${s}`).join(" | ")} | multi-turn | all | mean kept | kept (no-tool) | token cut | p50 ms | p95 ms | fallbacks |`);
  console.log(`|---|---:|---:|---:|${sources.map(() => "---:").join("|")}|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const mode of modes) {
    for (const k of ks) {
      const r = await pass(mode, k);
      const cells = [
        mode,
        k,
        fmt(r.overall.hits, r.overall.n),
        fmt(r.ranked.hits, r.ranked.n),
        ...sources.map((s) => fmt(r.bySource.get(s)?.hits ?? 0, r.bySource.get(s)?.n ?? 0)),
        `${fmt(r.multi.hits, r.multi.n)} (${r.multi.n})`,
        `${fmt(r.all.hits, r.all.n)} (${r.all.n})`,
        r.kept.toFixed(1),
        r.noToolKept.toFixed(1),
        `${(r.reduction * 100).toFixed(1)}%`,
        r.failOpen,
        r.smallTalk,
        pct(r.ms, 50).toFixed(2),
        pct(r.ms, 95).toFixed(2),
        r.fallbacks,
      ];
      console.log(`| ${cells.join(" | ")} |`);
      if (values.misses) {
        const categories = [...r.byCategory].map(([c, n]) => `${c} ${fmt(n.hits, n.n)} (${n.n})`);
        if (categories.length > 0) console.log(`  categories: ${categories.join(", ")}`);
        for (const m of r.misses) console.log(`  miss ${m}`);
      }
    }
  }
}

try {
  await main();
} finally {
  selector.close();
  await embeddingServer?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
