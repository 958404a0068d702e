/**
 * Ablation of cache-aware selection without an LLM server: the proxy (in this process, hybrid
 * selection with the offline embedding model when present) in front of the fake upstream, replaying
 * a Home Assistant day (bench/ha-day.ts) or the whole dev set as one long day, for per-request
 * selection and the stable working set under several `cache_keep` and `cache_max_tool_tokens` values.
 * It reports the proxy's own estimate of the prompt tokens the upstream would compute
 * (`prompt_tokens_to_compute`, o200k_base, prefix reuse as llama.cpp does it), working-set changes,
 * the mean number of tools forwarded and recall of the needed tools. "all tools" is the client's
 * list forwarded whole (selection skipped), the estimate of calling the upstream directly.
 *
 *   bun bench/cache-ablation.ts [--day 60 | --day dev] [--tools 34,76] [--cases 0,1,3]   (indexes into CASES)
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FakeOpenAIUpstream } from "../test/fakes/openai-upstream.ts";
import { startProxy } from "../test/fakes/proxy.ts";
import { devSequence, haDay, recall, type Step } from "./ha-day.ts";
import { haTools, systemPrompt } from "./ha-request.ts";

const shared = join(import.meta.dir, "../../shared");
const { values } = parseArgs({ options: { day: { type: "string", default: "60" }, tools: { type: "string", default: "34,76" }, cases: { type: "string", default: "" } } });
const steps: Step[] = values.day === "dev" ? devSequence() : haDay(Number(values.day));

const CASES: [name: string, selection: Record<string, unknown>][] = [
  ["all tools (direct)", { min_tools: 1000 }],
  ["per_request (keep 5)", { cache: "per_request" }],
  ["stable, cache_keep 1", { cache: "stable", cache_keep: 1 }],
  ["stable, cache_keep 2 (default)", { cache: "stable" }],
  ["stable, cache_keep 3", { cache: "stable", cache_keep: 3 }],
  ["stable, cache_keep 5", { cache: "stable", cache_keep: 5 }],
  ["stable, cache_keep 2, cap 3,500 tokens", { cache: "stable", cache_max_tool_tokens: 3500 }],
  ["stable, cache_keep 2, cap 6,000 tokens", { cache: "stable", cache_max_tool_tokens: 6000 }],
  ["stable, cache_keep 2, no cap", { cache: "stable", cache_max_tool_tokens: 0 }],
];

const modelsDir = join(shared, "models");
const embedding = existsSync(join(modelsDir, "universal-sentence-encoder-lite-en")) ? { embedding_model: "universal-sentence-encoder-lite-en", models_dir: modelsDir, deadline_ms: 5000 } : { mode: "lexical" };
console.log(`${steps.length} requests (${values.day === "dev" ? "the whole dev set" : `${values.day} single commands, 4 MCP requests, 4 two-turn conversations`}), selection ${embedding.mode ?? "hybrid"}; tokens: o200k_base estimate`);
const upstream = new FakeOpenAIUpstream();
for (const n of values.tools!.split(",").map(Number)) {
  const tools = haTools(n > 34);
  const names = new Set(tools.map((t: any) => t.function.name as string));
  console.log(`\n${n} tools\n\n| case | tokens to compute | after the first request | vs all tools | mean tools forwarded | W size at the end | grown / tails / shrunk | recall (scored) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  let direct = 0;
  const picked = values.cases ? values.cases.split(",").map((i) => CASES[Number(i)]!) : CASES;
  for (const [name, selection] of picked) {
    const proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }], selection: { ...embedding, ...selection } });
    try {
      if (embedding.models_dir) await proxy.runtime.selector.ready();
      for (const step of steps) {
        const r = await fetch(`${proxy.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "fake-model", max_tokens: 1, tools, messages: [{ role: "system", content: systemPrompt() }, ...step.messages] }),
        });
        await r.arrayBuffer();
      }
      let rows = proxy.rows();
      for (let t = 0; rows.length < steps.length && t < 30; t++) rows = (await Bun.sleep(1000), proxy.rows());
      if (rows.length !== steps.length) throw new Error(`the request log has ${rows.length} rows for ${steps.length} requests`);
      const total = rows.reduce((s, r) => s + (r.prompt_tokens_to_compute ?? 0), 0);
      if (!direct) direct = total;
      const kept = rows.map((r) => JSON.parse((r.tools_kept as unknown as string) ?? "[]") as string[]);
      const [hits, scored] = recall(steps, (i) => kept[i]!, names);
      const count = (c: string) => rows.filter((r) => r.working_set_change === c).length;
      const mean = kept.reduce((s, k) => s + k.length, 0) / kept.length;
      const changes = selection.cache === "stable" ? `${count("grown")} / ${count("tail")} / ${count("shrunk")}` : "-";
      console.log(`| ${name} | ${total} | ${total - (rows[0]!.prompt_tokens_to_compute ?? 0)} | ${(total / direct).toFixed(2)} | ${mean.toFixed(1)} | ${rows.at(-1)!.working_set_size ?? "-"} | ${changes} | ${(hits / scored).toFixed(3)} (${scored}) |`);
    } finally {
      proxy.stop();
    }
  }
}
upstream.stop();
