/**
 * Where should a new tool go in the forwarded working set so that the upstream's prefix cache keeps
 * the most? Renders Home Assistant requests with a real llama-server's chat template
 * (`POST /apply-template`, then `POST /tokenize`) and counts, for each way of changing the tool
 * list, the tokens after the longest common token prefix with the previous prompt: what the server
 * computes again. Results in docs/tool-selection.md ("Cache-aware selection").
 *
 *   bun bench/template-prefix.ts --url http://127.0.0.1:20610 [--url ...] [--trials 40] [--mcp]
 *
 * Each trial: a working set W of 8 tools drawn from HA's tools (client order), one new tool t not in
 * W, and a new user command. Compared: t appended after W; t inserted at its client-order position;
 * one tool of W removed (the order of the rest kept); W unchanged (the floor: the command alone).
 * Deterministic (seeded); needs no model output, so the `tiny` model is enough.
 */
import { parseArgs } from "node:util";
import { rng } from "./ha-day.ts";
import { haTools, systemPrompt } from "./ha-request.ts";

const { values } = parseArgs({ options: { url: { type: "string", multiple: true }, trials: { type: "string", default: "40" }, mcp: { type: "boolean", default: false } } });
const urls = values.url ?? ["http://127.0.0.1:20610"];
const TRIALS = Number(values.trials);
const W_SIZE = 8;
const COMMANDS = ["Turn on the kitchen ceiling light", "What is the temperature in the office?", "Set a timer for ten minutes", "Close the bedroom blinds", "Play some jazz in the living room"];

async function tokens(url: string, tools: unknown[], command: string): Promise<number[]> {
  const messages = [
    { role: "system", content: systemPrompt() },
    { role: "user", content: command },
  ];
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  };
  const { prompt } = (await post("/apply-template", { messages, tools })) as { prompt: string };
  const { tokens } = (await post("/tokenize", { content: prompt, add_special: false })) as { tokens: number[] };
  return tokens;
}

/** Tokens of `next` after its longest common prefix with `prev`. */
function toCompute(prev: number[], next: number[]): number {
  let i = 0;
  while (i < prev.length && i < next.length && prev[i] === next[i]) i++;
  return next.length - i;
}

const all = haTools(values.mcp);
for (const url of urls) {
  const props = (await (await fetch(`${url}/props`)).json()) as { chat_template?: string };
  const family = props.chat_template?.includes("<|im_start|>") ? "Qwen2.5" : props.chat_template?.includes("<|start_header_id|>") ? "Llama 3.1" : "other";
  const random = rng(42);
  const sums = { append: 0, clientOrder: 0, remove: 0, unchanged: 0, prompt: 0 };
  for (let trial = 0; trial < TRIALS; trial++) {
    const idx = all.map((_, i) => i).sort(() => random() - 0.5);
    const w = idx.slice(0, W_SIZE).sort((a, b) => a - b);
    const t = idx[W_SIZE]!;
    const [c1, c2] = [COMMANDS[trial % COMMANDS.length]!, COMMANDS[(trial + 1) % COMMANDS.length]!];
    const prev = await tokens(url, w.map((i) => all[i]), c1);
    const variants = {
      append: [...w, t],
      clientOrder: [...w, t].sort((a, b) => a - b),
      remove: w.filter((_, k) => k !== Math.floor(random() * W_SIZE)),
      unchanged: w,
    };
    for (const [name, order] of Object.entries(variants)) sums[name as keyof typeof variants] += toCompute(prev, await tokens(url, order.map((i) => all[i]), c2));
    sums.prompt += prev.length;
  }
  const mean = (n: number) => (n / TRIALS).toFixed(1);
  console.log(`\n${url} (${family} template), ${TRIALS} trials, |W| = ${W_SIZE} of ${all.length} tools, mean prompt ${mean(sums.prompt)} tokens`);
  console.log("| change to W | tokens computed again (mean) |\n| --- | ---: |");
  console.log(`| none (new command only) | ${mean(sums.unchanged)} |`);
  console.log(`| new tool appended after W | ${mean(sums.append)} |`);
  console.log(`| new tool inserted in client order | ${mean(sums.clientOrder)} |`);
  console.log(`| one tool removed, order kept | ${mean(sums.remove)} |`);
}
