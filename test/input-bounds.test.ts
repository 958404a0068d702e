/**
 * What a hostile body can make the proxy hold or build (docs/security.md, "Fuzzing"): caches keep no
 * client text beyond their bounds, the embedding Worker's batches stay bounded whatever the tools
 * say, and a 400 never serialises the body. The causes of the fuzzer's memory peaks, each pinned by
 * behaviour: whether a text is still reachable (a heap snapshot of this process, after a full
 * collection), how texts are batched, what is serialised.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { seededRandom } from "../src/compression/random-drop.ts";
import { SelectionSchema, type SelectionConfig } from "../src/config/schema.ts";
import type { Tool } from "../src/protocol/openai.ts";
import { WorkerEmbedder } from "../src/selection/embedder.ts";
import { lengthBuckets } from "../src/selection/length-buckets.ts";
import { toolLanguage } from "../src/selection/language.ts";
import { MAX_RANKED_TOOLS_CHARS, ToolSelector } from "../src/selection/selector.ts";
import { estimateTokens } from "../src/selection/tokens.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { MAX_FIELD_CHARS } from "../src/selection/tool-doc.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy } from "./fakes/proxy.ts";

const MODELS_DIR = join(import.meta.dir, "../../shared/models");

/** A text built at run time (so that the test's own source does not contain it). */
const marker = (i: number) => ["zq", "xv", String(i).padStart(4, "0"), "marker"].join("");

/**
 * The strings on the heap after a full collection, from a V8-format heap snapshot: the kind of each
 * ("string", "sliced string": a substring that keeps its parent alive, "concatenated string") and its
 * text as the snapshot gives it (the first 1,024 characters). `needle()` is called only after the
 * snapshot is taken, so that the needle is not itself on the heap.
 */
function heapStrings(needle: () => string): { kind: string; text: string }[] {
  Bun.gc(true);
  const snapshot = JSON.parse(Bun.generateHeapSnapshot("v8")) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const [typeAt, nameAt] = [fields.indexOf("type"), fields.indexOf("name")];
  const wanted = needle();
  const found: { kind: string; text: string }[] = [];
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const kind = types[snapshot.nodes[i + typeAt]!]!;
    const text = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    if (kind.endsWith("string") && text.includes(wanted)) found.push({ kind, text });
  }
  return found;
}

test("the selector keeps no tool set's JSON once its index cache has let the set go (remembered outcomes hold it weakly)", async () => {
  const config = Value.Default(SelectionSchema, { mode: "lexical", keep: 2, min_tools: 1 }) as SelectionConfig;
  const selector = new ToolSelector({ dataDir: ":memory:", config });
  const settings = resolveSettings(config, []);
  // The marker sits in a field the selector's documents never read: only the set's JSON has it.
  const tools = (i: number): Tool[] => [
    { type: "function", x_marker: `${marker(i)} end`, function: { name: "HassTurnOn", description: `Turns on a device. ${"word ".repeat(MAX_FIELD_CHARS)}` } } as Tool,
    { type: "function", function: { name: "HassTurnOff", description: "Turns off a device." } },
  ];
  // Short conversations, each its own: their outcomes are remembered. 40 sets: more than the index cache's 32.
  for (let i = 0; i < 40; i++) await selector.select({ model: "m", messages: [{ role: "user", content: `turn on light ${i}` }], tools: tools(i) }, settings);
  // Looked for as it appears in the set's JSON (the tool objects themselves may stay on the stack a while).
  expect(heapStrings(() => `"x_marker":"${marker(0)} end"`)).toEqual([]);
  expect(heapStrings(() => `"x_marker":"${marker(39)} end"`)).not.toEqual([]);
  await selector.close();
});

test("a tool set's language sample is a string of its own, not a substring keeping the joined texts alive", () => {
  const texts = [`${marker(1)} hass turn on`, "lights ".repeat(1000)];
  const language = toolLanguage(texts);
  expect(language.sample.length).toBe(4000);
  expect(language.vocabulary.has("lights")).toBe(true);
  const strings = heapStrings(() => `${marker(1)} hass`);
  expect(strings.map((s) => s.kind)).toContain("string");
  expect(strings.filter((s) => s.kind === "sliced string")).toEqual([]);
});

test("embedding sub-batches: every text once, in runs of 64 in the request's order, each run shortest first within 512 token slots", () => {
  const texts = [...Array.from({ length: 100 }, (_, i) => "x".repeat(i % 3 === 0 ? 2000 : 100 + i)), "", "turn on"];
  const batches = lengthBuckets(texts, 64, 128);
  expect(batches.flat().sort((a, b) => a - b)).toEqual(texts.map((_, i) => i));
  const slots = (i: number) => Math.min(texts[i]!.length + 2, 128);
  for (const batch of batches) {
    expect(batch.length).toBeLessThanOrEqual(64);
    expect(batch.length * Math.max(...batch.map(slots))).toBeLessThanOrEqual(512);
    // Batch-mates come from one run of 64, as an embeddings upstream gets them (http-embedder.ts).
    expect(new Set(batch.map((i) => Math.floor(i / 64))).size).toBe(1);
  }
  const lengths = (run: number) => batches.flat().filter((i) => Math.floor(i / 64) === run).map((i) => texts[i]!.length);
  for (const run of [0, 1]) expect(lengths(run)).toEqual([...lengths(run)].sort((a, b) => a - b));
  // 64 texts of ~600 characters (128 tokens each) once went to the model in one call (+600 MiB): now 4 at a time.
  expect(lengthBuckets(Array.from({ length: 64 }, () => "word ".repeat(120)), 64, 128).map((b) => b.length)).toEqual(Array(16).fill(4));
  // Short texts still share one call: 64 of them.
  expect(lengthBuckets(Array.from({ length: 70 }, () => "on"), 64, 128).map((b) => b.length)).toEqual([64, 6]);
  // A text longer than the budget alone is a batch of its own.
  expect(lengthBuckets(["y".repeat(5000), "z".repeat(5000)], 64, 8192)).toEqual([[0], [1]]);
});

test("the Worker embeds a mix of long and short texts in the request's order, as it embeds each alone (real model)", async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "llm-proxy-input-bounds-"));
  const embedder = new WorkerEmbedder({ model: "universal-sentence-encoder-lite-en", modelsDir: MODELS_DIR, cacheDir, dtype: "q8" });
  try {
    expect(await embedder.ready()).toBe(true);
    const long = `${"the quick brown fox jumps over the lazy dog ".repeat(60)}`;
    const texts = [long, "turn on the kitchen light", "d".repeat(20_000), "set a timer for five minutes", `${long} and more`];
    const together = await embedder.embed(texts);
    expect(together).toHaveLength(texts.length);
    // Padding to another length moves a vector slightly (cosine ~0.9999); another text's vector is far off.
    const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, k) => s + x * b[k]!, 0);
    for (const [i, text] of texts.entries()) {
      const [alone] = await embedder.embed([text]);
      expect(cosine(together[i]!, alone!)).toBeGreaterThan(0.999);
    }
  } finally {
    await embedder.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test("a body that breaks its route's schema gets a 400 naming the field, and is never serialised into an error (both fronts)", async () => {
  const upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  const proxy = startProxy({ selection: { mode: "off" }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
  // Elysia's own validation error was JSON.stringify of the whole body (pretty-printed outside production).
  const stringify = JSON.stringify;
  let longest = 0;
  JSON.stringify = ((...args: Parameters<typeof stringify>) => {
    const out = stringify(...args);
    longest = Math.max(longest, out?.length ?? 0);
    return out;
  }) as typeof stringify;
  try {
    const huge = "x".repeat(1_000_000);
    const send = (path: string, body: unknown) => fetch(`${proxy.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: stringify(body) });
    const openai = await send("/v1/chat/completions", { model: "fake-model", messages: [{ role: "user", content: huge }, { role: 5 }] });
    expect(openai.status).toBe(400);
    expect(await openai.json()).toEqual({ error: { message: expect.stringContaining("messages[1].role"), type: "invalid_request_error", param: "messages[1].role", code: "invalid_value" } });
    const ollama = await send("/api/chat", { model: "fake-model", messages: [{ role: "user", content: huge }], options: { num_ctx: "big" } });
    expect(ollama.status).toBe(400);
    expect(((await ollama.json()) as { error: string }).error).toContain("options.num_ctx");
    expect(longest).toBeLessThan(10_000);
  } finally {
    JSON.stringify = stringify;
    proxy.stop();
    upstream.stop();
  }
});

test("the linear token estimate walks o200k's pieces without match objects and counts as the pattern's matchAll split does", () => {
  // The estimate as it was written first (one matchAll over the whole pattern: an array and a substring per piece), as the oracle.
  const PIECES = /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  const oracle = (text: string) => {
    let n = 0;
    for (const [piece] of text.matchAll(PIECES)) {
      const len = piece.length;
      if (/\p{L}/u.test(piece)) {
        if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u.test(piece)) n += Math.max(1, len / 1.5);
        else if (/[^\x00-\x7f]/.test(piece)) n += Math.max(1, len / 5);
        else n += len <= 12 ? 1 : len / 4.5;
      } else n += len <= 3 || piece.trim() === "" ? 1 : len / 2.6;
    }
    return Math.round(n);
  };
  const random = seededRandom(7);
  const texts = [
    "", " ", "Turn on the kitchen light, please!", '{"type":"function","function":{"name":"HassTurnOn","parameters":{"type":"object"}}}',
    "日本語のテキスト〇々 and English", "Grüße, Привет мир", "a\u0301b c\u0301", " \u0301\u0301a", "\ud800x\udc00y", "🙂".repeat(300),
    "x\u2028y\u00a0 \ufeff", "tab\t\v\f end\r\n\n", "'s 'S don't WE'LL", "1234567 ½ 𐤙𞲋 ٣٤٥", "\u3007\u3007abc ⺀abc", "d".repeat(16_000), " !! !!\n/ //",
    ...Array.from({ length: 300 }, () => String.fromCodePoint(...Array.from({ length: 200 }, () => Math.floor(random() * (random() < 0.1 ? 0x2ffff : 0x3000))))),
    ...Array.from({ length: 300 }, () => Array.from({ length: 60 }, () => [" ", "a", "Z", "9", "!", "\n", "\t", "'", "é", "中", "🙂", "\u0301", "\ud800"][Math.floor(random() * 13)]).join("")),
  ];
  for (const text of texts) expect([text, estimateTokens(text)]).toEqual([text, oracle(text)]);
});

test("a tool list longer than MAX_RANKED_TOOLS_CHARS is forwarded whole and unranked, and says so in the log; one just under it is ranked", async () => {
  const upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  const proxy = startProxy({ selection: { mode: "lexical", keep: 2, min_tools: 1 }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
  // n tools of ~1 KB each; their JSON passes the limit at about 500 tools.
  const tools = (n: number): Tool[] => Array.from({ length: n }, (_, i) => ({ type: "function", function: { name: `tool_${i}`, description: `Tool number ${i}. ${"lorem ipsum ".repeat(80)}` } }));
  const send = (list: Tool[]) =>
    fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "run tool number 7" }], tools: list }) });
  try {
    const big = tools(600);
    expect(JSON.stringify(big).length).toBeGreaterThan(MAX_RANKED_TOOLS_CHARS);
    expect((await send(big)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.body.tools).toHaveLength(600);
    expect(proxy.rows().at(-1)).toMatchObject({ tools_received: 600, selection_mode: "skipped (tool list too large)" });

    const fits = tools(400);
    expect(JSON.stringify(fits).length).toBeLessThan(MAX_RANKED_TOOLS_CHARS);
    expect((await send(fits)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.body.tools.length).toBeLessThan(400);
    expect(proxy.rows().at(-1)).toMatchObject({ tools_received: 400, selection_mode: "lexical" });
  } finally {
    proxy.stop();
    upstream.stop();
  }
});
