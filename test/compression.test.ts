import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { budgetOf } from "../src/compression/budget.ts";
import { encodeBounded, MAX_RUN } from "../src/compression/bpe-bounded.ts";
import { Calibration, UNCALIBRATED } from "../src/compression/calibration.ts";
import { Draft } from "../src/compression/draft.ts";
import { IMAGE_TOKENS, TokenEstimator } from "../src/compression/estimate.ts";
import { dropHistory, turns } from "../src/compression/history.ts";
import { collapseWhitespace, lossless, minifyJson } from "../src/compression/lossless.ts";
import { dropTokens, randomDrop, seededRandom } from "../src/compression/random-drop.ts";
import { resolveCompression } from "../src/compression/settings.ts";
import { textCache } from "../src/compression/text-cache.ts";
import { dropTools } from "../src/compression/tools.ts";
import { cutMarker, headAndTail, truncateToolResults } from "../src/compression/tool-results.ts";
import { CompressionSchema, SelectionSchema } from "../src/config/schema.ts";
import { chatRequestFromOllama } from "../src/protocol/ollama-request.ts";
import type { ChatCompletionRequest, ChatMessage, Tool } from "../src/protocol/openai.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { countTokens, encoding, estimateTokens } from "../src/selection/tokens.ts";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-compression-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const haTools = JSON.parse(readFileSync(join(import.meta.dir, "../../shared/datasets/tool-selection/tools/ha-assist.json"), "utf8")) as Tool[];
const compressionDefaults = (over: object = {}) => Value.Default(CompressionSchema, Value.Convert(CompressionSchema, over)) as any;

const words = (n: number, seed = 0) => Array.from({ length: n }, (_, i) => `word${(i * 7 + seed) % 97}`).join(" ");
const call = (id: string, name: string, args = "{}") => ({ id, type: "function" as const, function: { name, arguments: args } });

/** Every tool message answers a call of an earlier kept assistant message, and every call has its result. */
function expectPaired(messages: readonly ChatMessage[]) {
  const open = new Set<string>();
  const answered = new Set<string>();
  for (const m of messages) {
    for (const c of m.tool_calls ?? []) open.add(c.id);
    if (m.role === "tool") {
      expect(open.has(m.tool_call_id!)).toBe(true);
      answered.add(m.tool_call_id!);
    }
  }
  expect([...open].filter((id) => !answered.has(id))).toEqual([]);
}

/** A conversation: system, then `rounds` of user -> assistant tool calls (parallel when `parallel`) -> results -> assistant, then the last user. */
function conversation(rounds: number, parallel = 1): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: `You control a home. ${words(200)}` }];
  for (let r = 0; r < rounds; r++) {
    messages.push({ role: "user", content: `round ${r}: ${words(40, r)}` });
    const calls = Array.from({ length: parallel }, (_, j) => call(`c${r}_${j}`, "HassTurnOn", `{"name":"lamp ${r}.${j}"}`));
    messages.push({ role: "assistant", content: null, tool_calls: calls });
    for (const c of calls) messages.push({ role: "tool", tool_call_id: c.id, content: JSON.stringify({ success: true, detail: words(60, r) }) });
    messages.push({ role: "assistant", content: `Done with round ${r}.` });
  }
  messages.push({ role: "user", content: "and now the kitchen lights please" });
  return messages;
}

describe("step 1: lossless", () => {
  test("whitespace runs collapse inside lines, indentation stays, blank-line runs become one blank line", () => {
    expect(collapseWhitespace("a    b\t\tc  \n  - names: x   y\n\n\n\nend   ")).toBe("a b c\n  - names: x y\n\nend");
    expect(collapseWhitespace("unchanged text\n  indented")).toBe("unchanged text\n  indented");
    // CRLF line ends, a leading run, blanks after a non-breaking space (whitespace, so kept), a long run mid-line
    expect(collapseWhitespace("  x \t\r\ny\u00a0  z\r\n\r\n\r\n\r\nw" + " ".repeat(16_000) + "v \t")).toBe("  x\r\ny\u00a0  z\r\n\r\nw v");
  });

  test("JSON in tool results is minified; other text is not parsed", () => {
    expect(minifyJson('{\n  "a": [1, 2],\n  "b": "x  y"\n}')).toBe('{"a":[1,2],"b":"x  y"}');
    expect(minifyJson("not json {")).toBeUndefined();
    expect(minifyJson('{"a":1}')).toBeUndefined();
  });

  test("duplicate system content goes, tool results and descriptions are compacted, the client's objects are untouched", () => {
    const tool: Tool = { type: "function", function: { name: "f", description: "Turns   on\n\n\n\nthings", parameters: { type: "object", properties: { a: { type: "string", description: "the   area" } } } } };
    const messages: ChatMessage[] = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi   there" },
      { role: "assistant", content: null, tool_calls: [call("1", "f")] },
      { role: "tool", tool_call_id: "1", content: '{\n  "ok": true\n}' },
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "look   here" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
    ];
    const request: ChatCompletionRequest = { model: "m", messages, tools: [tool] };
    const frozen = JSON.stringify(request);
    const draft = new Draft(request, new TokenEstimator());
    expect(lossless(draft)).toBe(5);
    const out = draft.toRequest();
    expect(JSON.stringify(request)).toBe(frozen);
    expect(out.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "user"]);
    expect(out.messages[1]!.content).toBe("hi there");
    expect(out.messages[3]!.content).toBe('{"ok":true}');
    expect(out.messages[4]!.content).toEqual([{ type: "text", text: "look here" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }]);
    expect(out.tools![0]!.function.description).toBe("Turns on\n\nthings");
    expect((out.tools![0]!.function.parameters as any).properties.a.description).toBe("the area");
    expect(draft.dropped()).toEqual([4]);
  });

  test("a request with nothing to compact is the very same object", () => {
    const request: ChatCompletionRequest = { model: "m", messages: [{ role: "user", content: "hello" }], tools: haTools.slice(0, 2) };
    const draft = new Draft(request, new TokenEstimator());
    lossless(draft);
    expect(draft.toRequest()).toBe(request);
  });
});

describe("step 2: tool results", () => {
  test("head and tail are kept with a marker counting the tokens cut", () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i}: ${words(8, i)}`);
    const text = lines.join("\n");
    const cut = headAndTail(text, 4000, 200);
    expect(cut.startsWith("line 0:")).toBe(true);
    expect(cut.endsWith(lines.at(-1)!)).toBe(true);
    expect(cut).toMatch(/\n\[\.\.\. [\d,]+ tokens cut \.\.\.\]\n/);
    expect(cut.length).toBeLessThan(text.length / 10);
    expect(cutMarker(1234)).toBe("[... 1,234 tokens cut ...]");
  });

  test("oldest results are cut first, and only while over the limit", () => {
    const estimator = new TokenEstimator();
    const messages = conversation(3);
    const big = (r: number) => JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `entity ${r}.${i}` })) });
    for (const [i, m] of messages.entries()) if (m.role === "tool") messages[i] = { ...m, content: big(i) };
    const draft = new Draft({ model: "m", messages }, estimator);
    const toolAt = draft.messages.map((m, i) => (m.role === "tool" ? i : -1)).filter((i) => i >= 0);
    // room for cutting exactly one result
    const limit = draft.total - (draft.tokens[toolAt[0]!]! - 400);
    expect(truncateToolResults(draft, limit, 256)).toBe(1);
    expect(draft.truncated).toEqual(new Set([toolAt[0]!]));
    expect(draft.messages[toolAt[0]!]!.content).toContain("tokens cut");
    expect(draft.messages[toolAt[1]!]!.content).toBe(big(toolAt[1]!));
    expect(draft.total).toBeLessThanOrEqual(limit);
  });
});

describe("step 3: history", () => {
  test("turns: a user message with everything up to the next one; system messages and the last user turn are not droppable", () => {
    const roles = ["system", "assistant", "user", "assistant", "tool", "assistant", "system", "user", "assistant", "user", "assistant", "tool"];
    expect(turns(roles)).toEqual([[1], [2, 3, 4, 5], [7, 8]]);
    expect(turns(["system", "assistant"])).toEqual([]);
  });

  test("whole turns go, oldest first; a tool-call pair at the cut edge stays together; parallel calls keep all their results", () => {
    for (const parallel of [1, 3]) {
      const messages = conversation(6, parallel);
      const draft = new Draft({ model: "m", messages }, new TokenEstimator());
      const perRound = (draft.total - draft.tokens[0]! - draft.tokens.at(-1)!) / 6;
      // Cut through the middle of round 2's tool results: rounds 0, 1 and 2 must go whole.
      const limit = Math.floor(draft.total - 2.5 * perRound);
      const dropped = dropHistory(draft, limit);
      expect(dropped).toBe(3 * (3 + parallel));
      expect(draft.total).toBeLessThanOrEqual(limit);
      expectPaired(draft.messages);
      expect(draft.messages[0]).toBe(messages[0]!);
      expect(draft.messages[1]!.content).toStartWith("round 3:");
      expect(draft.messages.at(-1)).toBe(messages.at(-1)!);
    }
  });

  test("history_block: the number of turns dropped is a multiple of the block, so the cut moves once every block turns", () => {
    const cuts: number[] = [];
    for (let rounds = 6; rounds <= 12; rounds++) {
      const messages = conversation(rounds);
      const draft = new Draft({ model: "m", messages }, new TokenEstimator());
      const perRound = (draft.total - draft.tokens[0]! - draft.tokens.at(-1)!) / rounds;
      // room for about 4.5 rounds of history
      dropHistory(draft, Math.floor(draft.tokens[0]! + draft.tokens.at(-1)! + 4.5 * perRound), 4);
      expectPaired(draft.messages);
      cuts.push(Number(/^round (\d+)/.exec(draft.messages[1]!.content as string)![1]));
    }
    expect(cuts.every((c) => c % 4 === 0)).toBe(true);
    // the first kept round changes only every 4 turns: the prompt's prefix is the same in between
    expect(new Set(cuts).size).toBeLessThanOrEqual(3);
    expect(cuts.at(-1)).toBeGreaterThan(cuts[0]!);
  });

  test("system prompts anywhere and the last user turn (a tool loop in progress) are never dropped, even over the limit", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: words(300) },
      { role: "user", content: words(100) },
      { role: "assistant", content: words(100) },
      { role: "developer", content: "mid-conversation instructions" },
      { role: "user", content: "turn on the lamp" },
      { role: "assistant", content: null, tool_calls: [call("a", "HassTurnOn"), call("b", "HassTurnOn")] },
      { role: "tool", tool_call_id: "a", content: words(200) },
      { role: "tool", tool_call_id: "b", content: words(200) },
    ];
    const draft = new Draft({ model: "m", messages }, new TokenEstimator());
    expect(dropHistory(draft, 10)).toBe(2);
    expect(draft.messages.map((m) => m.role)).toEqual(["system", "developer", "user", "assistant", "tool", "tool"]);
    expectPaired(draft.messages);
  });

  test("images in content parts count as an image, not as their base64 text", () => {
    const estimator = new TokenEstimator();
    const image = { type: "image_url", image_url: { url: `data:image/png;base64,${"A".repeat(200_000)}` } };
    const n = estimator.messageTokens({ role: "user", content: [{ type: "text", text: "what is this" }, image] });
    expect(n).toBeGreaterThanOrEqual(IMAGE_TOKENS);
    expect(n).toBeLessThan(IMAGE_TOKENS + 20);
  });

  test("an Ollama-shaped history (tool results matched by order) is dropped in whole turns", () => {
    const body = {
      model: "m",
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: words(50) },
        { role: "assistant", content: "", tool_calls: [{ function: { name: "HassTurnOn", arguments: { name: "a" } } }, { function: { name: "HassTurnOff", arguments: { name: "b" } } }] },
        { role: "tool", content: words(80) },
        { role: "tool", content: words(80) },
        { role: "assistant", content: "done" },
        { role: "user", content: "again" },
      ],
      options: { num_ctx: 2048 },
    };
    const request = chatRequestFromOllama(body as any);
    const draft = new Draft(request, new TokenEstimator());
    dropHistory(draft, draft.total - 10);
    expect(draft.messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(draft.messages[1]!.content).toBe("again");
  });
});

describe("step 4: tools", () => {
  test("tools are cut by the selector to the room the messages leave; the tool called in the history stays", async () => {
    const selector = new ToolSelector({ dataDir: tempDir(), config: Value.Default(SelectionSchema, {}) as any });
    try {
      const messages: ChatMessage[] = [
        { role: "system", content: "You control a home." },
        { role: "user", content: "set the timer" },
        { role: "assistant", content: null, tool_calls: [call("t", "HassStartTimer", '{"minutes":5}')] },
        { role: "tool", tool_call_id: "t", content: "ok" },
        { role: "user", content: "turn off the kitchen light" },
      ];
      const draft = new Draft({ model: "m", messages, tools: haTools }, new TokenEstimator());
      const limit = draft.total - draft.toolCost + 600;
      const selection = { ...resolveSettings(Value.Default(SelectionSchema, {}) as any, []), mode: "lexical" as const };
      const dropped = await dropTools(draft, limit, selector, selection);
      expect(dropped).toBeGreaterThan(20);
      const names = draft.tools!.map((t) => t.function.name);
      expect(names).toContain("HassStartTimer");
      expect(names).toContain("HassTurnOff");
      expect(draft.total).toBeLessThanOrEqual(limit);
    } finally {
      selector.close();
    }
  });
});

describe("mode random", () => {
  test("keeps about the share of each user message's tokens, in order; seeded runs repeat; other roles and images untouched", async () => {
    const text = words(400);
    const messages: ChatMessage[] = [
      { role: "system", content: text },
      { role: "user", content: text },
      { role: "assistant", content: text },
      { role: "user", content: [{ type: "text", text }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
    ];
    const a = await randomDrop(messages, 0.5, 42);
    const b = await randomDrop(messages, 0.5, 42);
    const c = await randomDrop(messages, 0.5, 43);
    expect(a.changed).toEqual([1, 3]);
    expect(a.messages).toEqual(b.messages);
    expect(c.messages[1]!.content).not.toBe(a.messages[1]!.content);
    expect(a.messages[0]).toBe(messages[0]!);
    expect(a.messages[2]).toBe(messages[2]!);
    const kept = await countTokens(a.messages[1]!.content as string);
    const all = await countTokens(text);
    expect(kept / all).toBeGreaterThan(0.4);
    expect(kept / all).toBeLessThan(0.65);
    expect((a.messages[3]!.content as any[])[1]).toEqual({ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } });
    // tokens come out in their order: the whole words kept are a subsequence of the original's
    const original = text.split(" ");
    const keptWords = (a.messages[1]!.content as string).split(/\s+/).filter((w) => original.includes(w));
    expect(keptWords.length).toBeGreaterThan(50);
    let at = 0;
    for (const w of keptWords) at = original.indexOf(w, at) + 1;
    expect(at).toBeGreaterThan(0);
  });

  test("an encoder failure keeps the original text; share 1 changes nothing", async () => {
    const broken = { encode: () => { throw new Error("boom"); }, decode: () => "" } as any;
    expect(dropTokens("some text", 0.5, broken, seededRandom(1))).toBe("some text");
    const enc = await encoding();
    expect(dropTokens("some text here", 1, enc, seededRandom(1))).toBe("some text here");
    expect((await randomDrop([{ role: "user", content: "x y z" }], 1, 1)).changed).toEqual([]);
  });

  test("COMPRESSION_RATIO 2 keeps half; TOKENS_TO_KEEP_RATIO below 1 wins", () => {
    expect(resolveCompression(compressionDefaults({ ratio: 2 }), []).keepShare).toBe(0.5);
    expect(resolveCompression(compressionDefaults({ ratio: 2, keep_ratio: 0.8 }), []).keepShare).toBe(0.8);
  });
});

describe("budget and settings", () => {
  const settings = resolveCompression(compressionDefaults({ context_window: 16384, models: { "qwen*": { context_window: 32768, mode: "random" } } }), []);
  const none = async () => undefined;

  test("window from the request (num_ctx) first, then config, then the upstream; reserve from max_tokens, else reply_reserve", async () => {
    const ollama = chatRequestFromOllama({ model: "m", messages: [{ role: "user", content: "x" }], options: { num_ctx: 8192, num_predict: 512 } });
    expect(await budgetOf(ollama, settings, none)).toEqual({ window: 8192, source: "request", reserve: 512, tokens: 7680 });
    const openai: ChatCompletionRequest = { model: "m", messages: [] };
    expect(await budgetOf(openai, settings, none)).toEqual({ window: 16384, source: "config", reserve: 1024, tokens: 15360 });
    const unset = resolveCompression(compressionDefaults(), []);
    expect(await budgetOf(openai, unset, async () => 4096)).toEqual({ window: 4096, source: "upstream", reserve: 1024, tokens: 3072 });
    expect(await budgetOf(openai, unset, none)).toBeUndefined();
    // a reply reserve larger than half the window is capped there
    expect((await budgetOf({ ...openai, max_completion_tokens: 30_000 }, settings, none))!.reserve).toBe(8192);
  });

  test("per-model overrides by glob on either model name", () => {
    const config = compressionDefaults({ context_window: 16384, models: { "qwen*": { context_window: 32768, mode: "random" } } });
    expect(resolveCompression(config, ["alias", "qwen2.5:7b"])).toMatchObject({ mode: "random", context_window: 32768 });
    expect(resolveCompression(config, ["llama3"])).toMatchObject({ mode: "fit", context_window: 16384, safety_margin: 0.05 });
  });
});

describe("estimates and calibration", () => {
  test("a new long text is estimated from its length, then counted in the background (the linear estimate, piece by piece) and cached", async () => {
    const estimator = new TokenEstimator();
    const text = `${words(3000)}\n`.repeat(3);
    const first = estimator.count(text);
    expect(estimator.stats().misses).toBe(1);
    await estimator.settle();
    const whole = estimateTokens(text);
    // Pieces are cut at newlines or spaces, where o200k's pre-tokenizer splits anyway: they add up to the whole's estimate.
    expect(Math.abs(estimator.count(text) - whole)).toBeLessThanOrEqual(3);
    expect(estimator.stats().hits).toBe(1);
    expect(Math.abs(first - whole) / whole).toBeLessThan(0.5);
    // And against the real o200k_base encoder: within a few percent on ordinary text.
    expect(Math.abs(estimator.count(text) - (await countTokens(text))) / whole).toBeLessThan(0.1);
  });

  test("mode fit never loads the o200k encoder, whatever the text (its load held the event loop for ~0.4 s and 88 MiB)", async () => {
    // A process of its own: other tests here load the encoder on purpose.
    const script = `
      import { TokenEstimator } from "./src/compression/estimate.ts";
      import { loadedEncoding } from "./src/selection/tokens.ts";
      import { CompressionService } from "./src/compression/service.ts";
      new CompressionService("${tempDir()}").configure({ mode: "fit", models: { "gpt-4o*": { mode: "off" } } });
      const estimator = new TokenEstimator();
      for (const text of ["hi", "x".repeat(20_000), "🙂".repeat(5000), "a b c\\n".repeat(10_000)]) estimator.count(text, "data");
      estimator.messageTokens({ role: "user", content: "turn on the light" });
      await estimator.settle();
      await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ loaded: loadedEncoding() !== undefined, cached: estimator.stats().cached_texts }));`;
    const proc = Bun.spawnSync(["bun", "-e", script], { cwd: join(import.meta.dir, ".."), stderr: "pipe" });
    expect(proc.stderr.toString()).toBe("");
    expect(JSON.parse(proc.stdout.toString())).toEqual({ loaded: false, cached: 5 });
  });

  test("mode random anywhere in the config loads the encoder at start (or reload), before any request", async () => {
    const script = `
      import { CompressionService } from "./src/compression/service.ts";
      import { loadedEncoding } from "./src/selection/tokens.ts";
      new CompressionService("${tempDir()}").configure({ mode: "fit", models: { "qwen*": { mode: "random" } } });
      for (let i = 0; i < 200 && !loadedEncoding(); i++) await new Promise((r) => setTimeout(r, 25));
      console.log(JSON.stringify({ loaded: loadedEncoding() !== undefined }));`;
    const proc = Bun.spawnSync(["bun", "-e", script], { cwd: join(import.meta.dir, ".."), stderr: "pipe" });
    expect(proc.stderr.toString()).toBe("");
    expect(JSON.parse(proc.stdout.toString())).toEqual({ loaded: true });
  });

  test("the text caches are bounded by characters and keep the most recently used", () => {
    const cache = textCache<number>(10);
    cache.set("aaaa", 1);
    cache.set("bbbb", 2);
    expect(cache.get("aaaa")).toBe(1);
    cache.set("cccc", 3);
    // 12 characters: the least recently used ("bbbb") goes
    expect([cache.has("aaaa"), cache.has("bbbb"), cache.has("cccc")]).toEqual([true, false, true]);
    expect(cache.weight).toBe(8);
    cache.set("x".repeat(11), 4);
    expect(cache.size).toBe(2);
  });

  test("long runs of letters (a pasted blob) are encoded in slices: exact round trip, counted and thinned without stalling", async () => {
    const enc = await encoding();
    const blob = `here it is: ${"x".repeat(30_000)} and ${"ab12".repeat(5000)}.`;
    const ids = encodeBounded(enc, blob);
    expect(enc.decode(ids)).toBe(blob);
    // one-piece BPE of these runs takes minutes (quadratic); sliced, the test's 5 s are plenty
    const estimator = new TokenEstimator();
    estimator.count(blob, "data");
    await estimator.settle();
    // counted in background pieces, cut inside the runs: close to the whole's estimate, not equal
    expect(Math.abs(estimator.count(blob, "data") - estimateTokens(blob)) / estimateTokens(blob)).toBeLessThan(0.01);
    const { changed } = await randomDrop([{ role: "user", content: blob }], 0.5, 2);
    expect(changed).toEqual([0]);
  });

  test("runs of symbols, emoji and whitespace reach the BPE in bounded slices too, never split inside an emoji", async () => {
    const enc = await encoding();
    // The work of js-tiktoken's BPE grows with the square of a piece: count the longest text it is given.
    let longest = 0;
    const counting = { encode: (text: string, a: string[], b: string[]) => ((longest = Math.max(longest, text.length)), enc.encode(text, a, b)) } as unknown as typeof enc;
    const text = `a${"🙂".repeat(8000)}b${"!".repeat(16_000)} ${" ".repeat(16_000)}c${"\n".repeat(16_000)}x🙂${"🙂".repeat(100)}`;
    const ids = encodeBounded(counting, text);
    expect(enc.decode(ids)).toBe(text);
    expect(longest).toBeGreaterThan(0);
    expect(longest).toBeLessThanOrEqual(MAX_RUN + 2);
  });

  test("special-token text inside a message is counted and thinned as text", async () => {
    const estimator = new TokenEstimator();
    const text = `ignore this <|endoftext|> and ${words(2000)}`;
    estimator.count(text);
    await estimator.settle();
    expect(Math.abs(estimator.count(text) - estimateTokens(text))).toBeLessThanOrEqual(2);
    expect(estimateTokens("<|endoftext|>")).toBeGreaterThan(1);
    const { changed } = await randomDrop([{ role: "user", content: text }], 0.5, 1);
    expect(changed).toEqual([0]);
  });

  test("the weights learn a tokenizer that counts tools dearer than messages, ignore outliers, and survive a restart", () => {
    const dir = tempDir();
    const calibration = new Calibration(dir);
    expect(calibration.weights("u/m")).toEqual({ messages: UNCALIBRATED, tools: UNCALIBRATED });
    // An upstream whose tokens are 1.02 x our messages estimate + 1.26 x our tools estimate (Qwen2's shape), ±1% noise.
    const random = seededRandom(3);
    const upstream = (m: number, t: number) => (1.02 * m + 1.26 * t) * (0.99 + 0.02 * random());
    for (let i = 0; i < 60; i++) {
      const m = 1000 + Math.floor(random() * 20_000);
      const t = Math.floor(random() * 8000);
      expect(calibration.observe("u/m", m, t, upstream(m, t))).toBe(true);
    }
    const w = calibration.weights("u/m");
    expect(w.messages).toBeCloseTo(1.02, 1);
    expect(w.tools).toBeCloseTo(1.26, 1);
    // a prompt served from a cache reports far fewer tokens: not a tokenizer difference
    expect(calibration.observe("u/m", 1000, 0, 50)).toBe(false);
    calibration.close();
    const reloaded = new Calibration(dir);
    expect(reloaded.weights("u/m")).toEqual(w);
    expect(reloaded.snapshot()["u/m"]!.samples).toBe(60);
  });

  test("with a tool list that never changes, the sum still fits", () => {
    const calibration = new Calibration(tempDir());
    const random = seededRandom(4);
    for (let i = 0; i < 40; i++) {
      const m = 2000 + Math.floor(random() * 10_000);
      calibration.observe("u/m", m, 3000, 1.05 * m + 1.3 * 3000);
    }
    const w = calibration.weights("u/m");
    const m = 7000;
    expect((w.messages * m + w.tools * 3000) / (1.05 * m + 1.3 * 3000)).toBeCloseTo(1, 2);
    expect(w.tools).toBeGreaterThan(0.3);
  });
});
