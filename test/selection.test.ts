import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { loadConfig } from "../src/config/load.ts";
import { SelectionSchema, type SelectionConfig } from "../src/config/schema.ts";
import type { Tool } from "../src/protocol/openai.ts";
import type { Embedder } from "../src/selection/embedder.ts";
import { nameVocabulary } from "../src/selection/bridge.ts";
import { noToolProbes } from "../src/selection/calibration.ts";

const { small_talk: CHAT_PROBES, answerable: ANSWERABLE_PROBES } = noToolProbes();
import { fuse, normaliseByMax, normaliseMinMax } from "../src/selection/fusion.ts";
import { NO_PACKS } from "../src/selection/domain-pack.ts";
import { LexicalIndex } from "../src/selection/lexical.ts";
import { buildQuery, isQuestion, queryTerms, splitClauses } from "../src/selection/query.ts";
import { decide, scoreTools, type SelectionSettings, type ToolSetIndex } from "../src/selection/rank.ts";
import { areOpposites, relatedTools } from "../src/selection/related.ts";
import { docBytes, EmbeddingStore, Lru, viewBytes } from "../src/selection/cache.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { splitIdentifier, stem } from "../src/selection/text.ts";
import { canonicalJSON, MAX_FIELD_CHARS, MAX_VIEWS, SLOT_NUMBER, SLOT_PERCENT, toolDoc } from "../src/selection/tool-doc.ts";

const tool = (name: string, description: string, properties: Record<string, unknown> = {}): Tool => ({
  type: "function",
  function: { name, description, parameters: { type: "object", properties } },
});

const TOOLS: Tool[] = [
  tool("HassTurnOn", "Turns on a device or entity. Use for requests like 'turn on', 'activate'.", { name: { type: "string" } }),
  tool("HassTurnOff", "Turns off a device or entity. Use for requests like 'turn off', 'deactivate'.", { name: { type: "string" } }),
  tool("HassLightSet", "Sets the brightness or color of a light", { brightness: { type: "integer", description: "Brightness percentage" }, color: { type: "string" } }),
  tool("HassStartTimer", "Starts a timer", { minutes: { type: "integer", description: "Number of minutes" } }),
  tool("HassCancelTimer", "Cancels a timer"),
  tool("HassPauseTimer", "Pauses a running timer"),
  tool("HassUnpauseTimer", "Resumes a paused timer"),
  tool("GetLiveContext", "Provides real-time information about the current state of devices. Use for answering questions about current conditions."),
  tool("mcp_weather_get_forecast", "Get the weather forecast for a location: temperature, rain and wind.", { location: { type: "string" }, units: { type: "string", enum: ["metric", "imperial"] } }),
  tool("mcp_notes_create_note", "Create a new note with a title and body."),
];

function indexOf(tools: Tool[]): ToolSetIndex {
  const docs = tools.map((t) => toolDoc(t));
  return { docs, lexical: new LexicalIndex(docs), related: relatedTools(docs.map((d) => d.name)), domain: NO_PACKS };
}

const SETTINGS: SelectionSettings = { mode: "lexical", keep: 2, min_tools: 3, min_score: 0, max_tool_tokens: 0, always: [], never: [], related: false, keep_within: 0, small_talk_keep: 2, fail_open: false, server_bonus: 0, bridge: 0 };

function rank(text: string, tools = TOOLS) {
  const index = indexOf(tools);
  const query = buildQuery([{ role: "user", content: text }]);
  const scores = scoreTools(index, query, "lexical");
  return index.docs.map((d, i) => ({ name: d.name, score: scores[i]!.fused })).sort((a, b) => b.score - a.score).map((x) => x.name);
}

describe("text", () => {
  test("identifiers split on camelCase, snake_case and digits; stems fold inflections", () => {
    expect(splitIdentifier("HassTurnOn")).toEqual(["hass", "turn", "on"]);
    expect(splitIdentifier("mcp_web_search")).toEqual(["mcp", "web", "search"]);
    expect(splitIdentifier("getHTTPResponse2")).toEqual(["get", "http", "response", "2"]);
    expect(stem("lights")).toBe(stem("light"));
    expect(stem("paused")).toBe(stem("pause"));
    expect(stem("running")).toBe("run");
    expect(stem("timers")).toBe("timer");
  });
});

describe("lexical ranking (BM25F)", () => {
  test("name, description, parameter and enum words all count", () => {
    expect(rank("turn off the kitchen light")[0]).toBe("HassTurnOff");
    expect(rank("set the brightness to 50 percent")[0]).toBe("HassLightSet");
    expect(rank("pause the pizza timer")[0]).toBe("HassPauseTimer");
    expect(rank("show it in imperial")[0]).toBe("mcp_weather_get_forecast");
  });

  test("questions reach tools that answer questions", () => {
    expect(isQuestion("is the garage door open?")).toBe(true);
    expect(isQuestion("can you turn on the light?")).toBe(false);
    expect(isQuestion("the kitchen is dark, can you help?")).toBe(false);
    expect(isQuestion("which lights are on")).toBe(true);
    expect(rank("is the garage door open?")[0]).toBe("GetLiveContext");
  });

  test("a word no tool has scores nothing", () => {
    const index = indexOf(TOOLS);
    const scores = index.lexical.score(new Map([["xylophone", 1]]));
    expect([...scores].every((s) => s === 0)).toBe(true);
  });
});

describe("fusion", () => {
  test("normalises each ranking to [0, 1] and weights them", () => {
    expect([...normaliseByMax(Float64Array.from([2, 1, 0]))]).toEqual([1, 0.5, 0]);
    expect([...normaliseMinMax(Float64Array.from([0.2, 0.6, 0.4]))].map((x) => +x.toFixed(2))).toEqual([0, 1, 0.5]);
    const fused = fuse(Float64Array.from([1, 0]), Float64Array.from([0, 1]), 0.6);
    expect([...fused].map((x) => +x.toFixed(2))).toEqual([0.6, 0.4]);
    expect(fuse(Float64Array.from([1, 0]), undefined)).toEqual(Float64Array.from([1, 0]));
  });
});

describe("conversation query", () => {
  test("a short or affirmative follow-up leans on the turns before it", () => {
    const q = buildQuery([
      { role: "user", content: "is the back door locked?" },
      { role: "assistant", content: "No. Do you want me to lock it?" },
      { role: "user", content: "yes please" },
    ]);
    expect(q.followUp).toBe(true);
    expect(q.segments[0]!.text).toBe("yes please");
    expect(q.segments.find((s) => s.text.startsWith("No."))!.weight).toBeGreaterThan(0.5);
    expect(queryTerms(q).get("lock")).toBeGreaterThan(0.5);
  });

  test("a self-contained request keeps earlier turns faint, older ones fainter", () => {
    const q = buildQuery([
      { role: "user", content: "play some jazz in the kitchen" },
      { role: "assistant", content: "Playing jazz." },
      { role: "user", content: "what is the weather forecast for tomorrow in Paris" },
    ]);
    expect(q.followUp).toBe(false);
    // earlier turns are in plainer words ("jazz" -> "jazz music media"): found by their opening
    const weight = (text: string) => (q.segments.find((s) => s.text === text) ?? q.segments.find((s) => s.text.startsWith(`${text} `)))!.weight;
    expect(weight("what is the weather forecast for tomorrow in Paris")).toBe(1);
    // the opening words again, on their own
    expect(weight("what is")).toBeLessThan(0.5);
    // the assistant's reply weighs a little less than the user turn it answers
    expect(weight("Playing jazz.")).toBeLessThan(weight("play some jazz"));
    expect(weight("play some jazz")).toBeLessThan(0.5);
  });

  test("two requests in one message are split into clauses; one request is not", () => {
    expect(splitClauses("turn off the office lights and set a 25 minute timer").map((c) => c.text)).toEqual(["turn off the office lights", "set a 25 minute timer"]);
    expect(splitClauses("turn on the lights and the fan")).toEqual([]);
    const index = indexOf(TOOLS);
    const query = buildQuery([{ role: "user", content: "turn off the office lights and set a 25 minute timer" }]);
    const decisions = decide({ index, scores: scoreTools(index, query, "lexical"), query, settings: { ...SETTINGS, keep: 3 } });
    const kept = decisions.filter((d) => d.kept).map((d) => d.name);
    expect(kept).toContain("HassStartTimer");
    expect(kept).toContain("HassTurnOff");
  });

  test("numbers and percentages fit tools with numeric parameters", () => {
    const q = queryTerms(buildQuery([{ role: "user", content: "make it 40%" }]));
    expect(q.get(SLOT_NUMBER)).toBe(1);
    expect(q.get(SLOT_PERCENT)).toBe(1);
    expect(toolDoc(TOOLS[2]!).slots).toContain(SLOT_PERCENT);
    expect(rank("make it 40%")[0]).toBe("HassLightSet");
  });

  test("tool calls in the history are collected; recent ones are sticky for a follow-up", () => {
    const messages = [
      { role: "user", content: "start a timer for 10 minutes" },
      { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function" as const, function: { name: "HassStartTimer", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "1", content: "{}" },
      { role: "assistant", content: "Timer started." },
      { role: "user", content: "and the bedroom?" },
    ];
    const q = buildQuery(messages);
    expect([...q.historyToolCalls]).toEqual(["HassStartTimer"]);
    expect(q.recentToolCalls.has("HassStartTimer")).toBe(true);
    const index = indexOf(TOOLS);
    const scores = scoreTools(index, q, "lexical");
    const best = index.docs[scores.reduce((b, s, i, all) => (s.fused > all[b]!.fused ? i : b), 0)]!.name;
    expect(best).toBe("HassStartTimer");
  });
});

describe("related tools", () => {
  test("opposites and families come from the names alone", () => {
    expect(areOpposites("on", "off")).toBe(true);
    expect(areOpposites("pause", "unpause")).toBe(true);
    expect(areOpposites("increase", "decrease")).toBe(true);
    expect(areOpposites("lock", "play")).toBe(false);
    const names = ["HassTurnOn", "HassTurnOff", "HassVacuumStart", "HassVacuumReturnToBase", "lock_door", "unlock_door", "HassStartTimer", "HassCancelTimer", "HassLightSet", "HassSetVolume"];
    const related = relatedTools(names);
    const of = (n: string) => related[names.indexOf(n)]!;
    expect(of("HassTurnOn").opposites.map((i) => names[i])).toEqual(["HassTurnOff"]);
    expect(of("lock_door").opposites.map((i) => names[i])).toEqual(["unlock_door"]);
    expect(of("HassVacuumStart").family.map((i) => names[i])).toEqual(["HassVacuumReturnToBase"]);
    expect(of("HassStartTimer").family.map((i) => names[i])).toEqual(["HassCancelTimer"]);
    // "set" is an action word, not a subject: LightSet and SetVolume are no family
    expect(of("HassLightSet").family).toEqual([]);
  });
});

describe("rules", () => {
  const decideFor = (text: string, settings: Partial<SelectionSettings>, extra: { toolChoice?: any; messages?: any[] } = {}) => {
    const index = indexOf(TOOLS);
    const query = buildQuery(extra.messages ?? [{ role: "user", content: text }]);
    const full = { ...SETTINGS, ...settings };
    const tokens = TOOLS.map(() => 100);
    const decisions = decide({ index, scores: scoreTools(index, query, "lexical"), query, settings: full, toolChoice: extra.toolChoice, tokens });
    return Object.fromEntries(decisions.map((d) => [d.name, d]));
  };

  test("keep best-ranked tools; opposites travel with them", () => {
    const plain = decideFor("turn on the light", { keep: 1 });
    expect(Object.values(plain).filter((d) => d.kept).map((d) => d.name)).toEqual(["HassTurnOn"]);
    const withRelated = decideFor("turn on the light", { keep: 1, related: true });
    expect(withRelated.HassTurnOff!.kept).toBe(true);
    expect(withRelated.HassTurnOff!.reason).toBe("opposite of HassTurnOn");
  });

  test("tool_choice, history tool_calls, always and never win over the ranking", () => {
    const d = decideFor("turn on the light", { keep: 1, always: ["mcp_notes_*"], never: ["HassTurnOn"] }, { toolChoice: { type: "function", function: { name: "HassCancelTimer" } } });
    expect(d.HassCancelTimer!.reason).toBe("tool_choice");
    expect(d.mcp_notes_create_note!.reason).toBe("always");
    expect(d.HassTurnOn!.kept).toBe(false);
    expect(d.HassTurnOn!.reason).toBe("never");
    const history = decideFor("", { keep: 1, never: ["*"] }, { messages: [{ role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "GetLiveContext", arguments: "{}" } }] }, { role: "user", content: "turn on the light" }] });
    expect(history.GetLiveContext!.kept).toBe(true);
    expect(history.GetLiveContext!.reason).toBe("called in the history");
  });

  test("min_tools leaves small requests alone; mode off keeps all; min_score and max_tool_tokens cut", () => {
    expect(Object.values(decideFor("turn on", { min_tools: 20 })).every((d) => d.kept)).toBe(true);
    expect(Object.values(decideFor("turn on", { mode: "off" })).every((d) => d.kept)).toBe(true);
    expect(Object.values(decideFor("turn on the light", { keep: 5, min_score: 0.99 })).filter((d) => d.kept).length).toBe(1);
    const budget = decideFor("turn on the light timer", { keep: 5, max_tool_tokens: 250 });
    expect(Object.values(budget).filter((d) => d.kept).length).toBe(2);
    expect(Object.values(budget).some((d) => d.reason === "over max_tool_tokens")).toBe(true);
  });

  test("per-model settings: first matching glob, lists add up, env-style defaults", () => {
    const config = Value.Default(SelectionSchema, { always: ["a"], models: { "qwen3*": { keep: 9, always: ["b"], mode: "lexical" }, "*": { keep: 2 } } }) as SelectionConfig;
    const s = resolveSettings(config, ["qwen3:8b"]);
    expect(s.keep).toBe(9);
    expect(s.mode).toBe("lexical");
    expect(s.always).toEqual(["a", "b"]);
    expect(resolveSettings(config, ["llama"]).keep).toBe(2);
    expect(resolveSettings(Value.Default(SelectionSchema, {}) as SelectionConfig, []).keep).toBe(5);
  });

  test("TOOLS_TO_KEEP, LLM_PROXY_EMBEDDING_MODEL and LLM_PROXY_MODELS_DIR set the selection section", () => {
    const { config } = loadConfig({ path: "/dev/null", env: { TOOLS_TO_KEEP: "7", LLM_PROXY_EMBEDDING_MODEL: "org/model", LLM_PROXY_MODELS_DIR: "/models" } });
    expect(config.selection.keep).toBe(7);
    expect(config.selection.embedding_model).toBe("org/model");
    expect(config.selection.models_dir).toBe("/models");
    expect(() => loadConfig({ path: "/dev/null", env: { TOOLS_TO_KEEP: "none" } })).toThrow(/selection\.keep/);
  });
});

/** Bag-of-words vectors: deterministic, normalised, counts every text it embeds. */
class CountingEmbedder implements Embedder {
  readonly model = "fake-bow";
  status: Embedder["status"] = "ready";
  calls: string[][] = [];
  delayMs = 0;
  async ready() {
    return true;
  }
  async embed(texts: string[]) {
    this.calls.push(texts);
    if (this.delayMs) await Bun.sleep(this.delayMs);
    return texts.map((t) => {
      const v = new Float32Array(64);
      for (const w of t.toLowerCase().split(/\W+/).filter(Boolean)) v[Number(Bun.hash(stem(w)) % 64n)]! += 1;
      const n = Math.hypot(...v) || 1;
      return v.map((x) => x / n);
    });
  }
  close() {}
}

describe("selector service and embedding cache", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const config = Value.Default(SelectionSchema, { keep: 2, min_tools: 3 }) as SelectionConfig;
  const settings = resolveSettings(config, []);
  const request = (tools: Tool[], text = "turn on the light") => ({ model: "m", messages: [{ role: "user", content: text }], tools });
  const viewCount = (tools: Tool[]) => tools.reduce((s, t) => s + toolDoc(t).views.length, 0);
  const nameWords = (tools: Tool[]) => nameVocabulary(tools.map((t) => toolDoc(t))).map((w) => w.word);
  /** The texts a query embeds: its segments and clauses. */
  const queryTexts = (text: string) => {
    const q = buildQuery([{ role: "user", content: text }]);
    return [...q.segments, ...q.clauses].map((s) => s.text);
  };

  test("tools are embedded once, in one batch; added and changed tools are embedded, removed ones ignored", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sel-"));
    dirs.push(dataDir);
    const embedder = new CountingEmbedder();
    const selector = new ToolSelector({ dataDir, config, embedder });
    const first = await selector.select(request(TOOLS), settings);
    expect(first!.mode).toBe("hybrid");
    const toolBatches = embedder.calls.filter((c) => c.length > queryTexts("turn on the light").length);
    expect(toolBatches.length).toBe(1);
    // one batch: the tools' views, their name words (bridge.ts) and, once, the small-talk and answerable probes
    expect(toolBatches[0]!).toEqual([...TOOLS.flatMap((t) => toolDoc(t).views), ...nameWords(TOOLS), ...CHAT_PROBES, ...ANSWERABLE_PROBES]);
    expect(selector.storedEmbeddings).toBe(TOOLS.length);

    embedder.calls = [];
    await selector.select(request(TOOLS, "turn off the light"), settings);
    expect(embedder.calls).toEqual([queryTexts("turn off the light")]);

    // one tool changed, one added, one removed
    const changed = tool("HassTurnOn", "Switches on a device.");
    const added = tool("HassVacuumStart", "Starts a vacuum");
    const next = [changed, ...TOOLS.slice(1, -1), added];
    embedder.calls = [];
    const result = await selector.select(request(next, "start the vacuum"), settings);
    const batches = embedder.calls.filter((c) => c[0] !== "start the vacuum");
    expect(batches.length).toBe(1);
    expect(batches[0]!.length).toBe(viewCount([changed, added]) + nameWords(next).length);
    expect(result!.decisions.map((d) => d.name)).not.toContain("mcp_notes_create_note");
    expect(result!.kept.map((t) => t.function.name)).toContain("HassVacuumStart");
    selector.close();

    // a new process finds every embedding in SQLite
    const again = new CountingEmbedder();
    const reopened = new ToolSelector({ dataDir, config, embedder: again });
    await reopened.select(request(next, "pause the timer"), settings);
    expect(again.calls).toEqual([[...nameWords(next), ...CHAT_PROBES, ...ANSWERABLE_PROBES], queryTexts("pause the timer")]);
    reopened.close();
  });

  test("a slow embedder hits the deadline: lexical ranking, the request is not held", async () => {
    const embedder = new CountingEmbedder();
    const selector = new ToolSelector({ dataDir: ":memory:", config, embedder });
    await selector.select(request(TOOLS), settings);
    embedder.delayMs = 300;
    const result = await selector.select(request(TOOLS, "pause the timer"), { ...settings, deadline_ms: 20 });
    expect(result!.mode).toBe("lexical (deadline)");
    expect(result!.kept.map((t) => t.function.name)).toContain("HassPauseTimer");
    selector.close();
  });

  test("kept tools are the request's own objects, in order; tokens are counted", async () => {
    const selector = new ToolSelector({ dataDir: ":memory:", config: { ...config, mode: "lexical" } });
    const result = await selector.select(request(TOOLS, "turn off the light"), { ...settings, mode: "lexical", related: true });
    expect(result!.kept.every((t) => TOOLS.includes(t))).toBe(true);
    const positions = result!.kept.map((t) => TOOLS.indexOf(t));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(result!.tokensAfter).toBeLessThan(result!.tokensBefore);
    expect(result!.tokensBefore).toBeGreaterThan(100);
    selector.close();
  });

  test("a tool with no text to embed is harmless: nothing stored for it, the cache reads back after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sel-"));
    dirs.push(dataDir);
    const blank: Tool = { type: "function", function: { name: "_" } } as Tool;
    expect(toolDoc(blank).views).toEqual([]);
    const tools = [...TOOLS.slice(0, 9), blank];
    const selector = new ToolSelector({ dataDir, config, embedder: new CountingEmbedder() });
    expect((await selector.select(request(tools), settings))!.mode).toBe("hybrid");
    // Once a zero-dimension row that the next read looped on forever.
    expect(selector.storedEmbeddings).toBe(9);
    selector.close();
    const reopened = new ToolSelector({ dataDir, config, embedder: new CountingEmbedder() });
    const result = await reopened.select(request(tools, "turn off the light"), settings);
    expect(result!.mode).toBe("hybrid");
    expect(result!.decisions.map((d) => d.name)).toContain("_");
    reopened.close();
  });

  test("the embedding store never keeps nor trusts a malformed row: a bad row is a miss and is deleted", () => {
    const store = new EmbeddingStore(":memory:");
    store.putMany([
      { key: "none", vectors: [] },
      { key: "zero", vectors: [new Float32Array(0)] },
      { key: "ragged", vectors: [new Float32Array(4), new Float32Array(3)] },
      { key: "good", vectors: [Float32Array.of(1, 0), Float32Array.of(0, 1)] },
    ]);
    expect(store.count()).toBe(1);
    expect(store.get("good")).toEqual([Float32Array.of(1, 0), Float32Array.of(0, 1)]);
    const put = store.db.prepare("INSERT INTO tool_embeddings (key, dim, vectors, used_at) VALUES (?, ?, ?, ?)");
    put.run("partial", 3, new Uint8Array(8), Date.now());
    put.run("negative", -2, new Uint8Array(8), Date.now());
    put.run("empty", 2, new Uint8Array(0), Date.now());
    put.run("odd-bytes", 1, new Uint8Array(6), Date.now());
    put.run("fraction", 1.5, new Uint8Array(12), Date.now());
    // What an older version stored for a tool without text (get() then looped forever).
    put.run("zero-dim", 0, new Uint8Array(0), Date.now());
    for (const key of ["zero-dim", "partial", "negative", "empty", "odd-bytes", "fraction"]) expect({ key, got: store.get(key) }).toEqual({ key, got: undefined });
    expect(store.count()).toBe(1);
    store.close();
  });

  test("one tool's text costs the selector a bounded amount: fields and views are capped, the tool is forwarded whole", async () => {
    const huge = tool("HassHugeTool", `Turns on the garden sprinkler. ${"Waters the lawn. ".repeat(2_000)}${"dry soil ".repeat(2_000)}`, {
      zone: { type: "string", enum: Array.from({ length: 10_000 }, (_, i) => `zone${i}`), description: "zone of the garden ".repeat(3_000) },
    });
    const doc = toolDoc(huge);
    for (const [field, text] of Object.entries(doc.fields)) expect({ field, capped: text.length <= MAX_FIELD_CHARS }).toEqual({ field, capped: true });
    expect(doc.views.length).toBeLessThanOrEqual(MAX_VIEWS);
    expect(doc.views.every((v) => v.length <= MAX_FIELD_CHARS)).toBe(true);
    const selector = new ToolSelector({ dataDir: ":memory:", config: { ...config, mode: "lexical" } });
    const result = await selector.select(request([...TOOLS, huge], "turn on the sprinkler"), { ...settings, mode: "lexical" });
    expect(result!.kept.map((t) => t.function.name)).toContain("HassHugeTool");
    expect(result!.kept.find((t) => t.function.name === "HassHugeTool")).toBe(huge);
    selector.close();
  });

  test("the LRU bounds entries and, with a weigher, their total weight; an entry over the budget alone is not kept", () => {
    const lru = new Lru<string, string>(3, (v) => v.length, 10);
    lru.set("a", "1234");
    lru.set("b", "1234");
    expect([lru.size, lru.weight]).toEqual([2, 8]);
    lru.get("a");
    lru.set("c", "1234"); // 12 > 10: the least recently used ("b") goes
    expect([lru.get("b"), lru.get("a"), lru.get("c")]).toEqual([undefined, "1234", "1234"]);
    lru.set("huge", "x".repeat(11));
    expect([lru.get("huge"), lru.size, lru.weight]).toEqual([undefined, 2, 8]);
    lru.set("a", "1");
    expect([lru.size, lru.weight]).toEqual([2, 5]);
    const counted = new Lru<number, number>(2);
    for (let i = 0; i < 5; i++) counted.set(i, i);
    expect([counted.size, counted.get(4), counted.get(0)]).toEqual([2, 4, undefined]);
  });

  test("a document's and a view set's weight follow their size", () => {
    const small = toolDoc(tool("A", "short"));
    const large = toolDoc(tool("B", "long words ".repeat(150)));
    expect(docBytes(large)).toBeGreaterThan(docBytes(small) + 2 * 1500);
    expect(viewBytes([new Float32Array(512), new Float32Array(512)])).toBe(64 + 2 * 2048);
  });

  test("canonical JSON ignores key order", () => {
    expect(canonicalJSON({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } })).toBe('{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}');
    expect(toolDoc(tool("x", "y")).hash).toBe(toolDoc({ function: { parameters: { properties: {}, type: "object" }, description: "y", name: "x" }, type: "function" }).hash);
  });
});
