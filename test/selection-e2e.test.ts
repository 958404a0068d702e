import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import type { Embedder } from "../src/selection/embedder.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const shared = join(import.meta.dir, "../../shared");
const toolsPath = join(shared, "datasets/tool-selection/tools/ha-assist.json");
/** The client's tools exactly as it sends them. */
const raw = readFileSync(toolsPath, "utf8");
const tools = JSON.parse(raw) as OpenAI.ChatCompletionTool[];
const nameOf = (t: any) => t.function.name as string;

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let client: OpenAI;

beforeAll(async () => {
  upstream = new FakeOpenAIUpstream();
  proxy = startProxy({
    upstreams: [{ name: "fake", base_url: upstream.url, api_key: "k" }],
    // Per request: these tests are about the ranking; the stable set (test/cache-aware-selection.test.ts) forwards HA's 34 tools whole.
    selection: { embedding_model: "universal-sentence-encoder-lite-en", models_dir: join(shared, "models"), deadline_ms: 5000, cache: "per_request", models: { "lexical-*": { mode: "lexical", keep: 3 } } },
    auth: { keys: ["client-key"] },
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key", maxRetries: 0 });
  // The model loads once for the whole file.
  expect(await proxy.runtime.selector.ready()).toBe(true);
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const lastTools = () => upstream.chatRequests.at(-1)!.body.tools as any[];

describe("tool selection through the proxy", () => {
  test("kept tools arrive byte-identical in the original order; header and log row are right", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "fake-model", messages: [{ role: "user", content: "turn off the kitchen lights" }], tools })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const sent = lastTools();
    const names = sent.map(nameOf);
    expect(names).toContain("HassTurnOff");
    expect(names).toContain("HassTurnOn");
    expect(sent.length).toBeLessThan(tools.length);
    // byte-identical: each forwarded tool's JSON equals the client's, and the order is the client's
    const original = new Map(tools.map((t) => [nameOf(t), JSON.stringify(t)]));
    for (const t of sent) expect(JSON.stringify(t)).toBe(original.get(nameOf(t))!);
    const rawSent = upstream.chatRequests.at(-1)!.raw;
    for (const t of sent) expect(rawSent).toContain(JSON.stringify(t));
    const positions = names.map((n) => tools.findIndex((t) => nameOf(t) === n));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(response.headers.get("x-llm-proxy-tools")).toBe(`${sent.length}/${tools.length}`);

    const row = proxy.rows().at(-1)!;
    expect(row.tools_received).toBe(tools.length);
    expect(JSON.parse(row.tools_kept as unknown as string)).toEqual(names);
    expect(row.selection_mode).toBe("hybrid");
    expect(row.selection_ms).toBeGreaterThan(0);
    expect(row.tool_tokens_after!).toBeLessThan(row.tool_tokens_before!);
    expect(row.tool_tokens_before!).toBeGreaterThan(2000);
  });

  test("a follow-up keeps the tool of the turn before", async () => {
    await client.chat.completions.create({
      model: "fake-model",
      messages: [
        { role: "user", content: "is the back door locked?" },
        { role: "assistant", content: "No, the back door is unlocked. Do you want me to lock it?" },
        { role: "user", content: "yes please" },
      ],
      tools,
    });
    expect(lastTools().map(nameOf)).toContain("HassTurnOn");
  });

  test("tool_choice and tools called in the history are kept", async () => {
    await client.chat.completions.create({
      model: "fake-model",
      messages: [
        { role: "user", content: "what's on the shopping list" },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "todo_get_items", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "[]" },
        { role: "user", content: "turn on the kitchen light" },
      ],
      tools,
      tool_choice: { type: "function", function: { name: "HassBroadcast" } },
    });
    const names = lastTools().map(nameOf);
    expect(names).toContain("todo_get_items");
    expect(names).toContain("HassBroadcast");
    expect(names).toContain("HassTurnOn");
    expect(upstream.chatRequests.at(-1)!.body.tool_choice).toEqual({ type: "function", function: { name: "HassBroadcast" } });
  });

  test("small requests and requests without tools pass untouched; per-model settings apply", async () => {
    const few = tools.slice(0, 4);
    const { response } = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }], tools: few }).withResponse();
    expect(lastTools()).toEqual(few as any[]);
    expect(response.headers.get("x-llm-proxy-tools")).toBe("4/4");
    await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
    expect(upstream.chatRequests.at(-1)!.body.tools).toBeUndefined();
    await client.chat.completions.create({ model: "fake/lexical-x", messages: [{ role: "user", content: "cancel the timer" }], tools });
    const row = proxy.rows().at(-1)!;
    expect(row.selection_mode).toBe("lexical");
    expect(lastTools().map(nameOf)).toContain("HassCancelTimer");
  });

  test("POST /admin/tools/rank explains every decision", async () => {
    const res = await fetch(`${proxy.url}/admin/tools/rank`, {
      method: "POST",
      headers: { authorization: "Bearer client-key", "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "pause the music" }], tools }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.mode).toBe("hybrid");
    expect(body.tools.length).toBe(tools.length);
    const pause = body.tools.find((t: any) => t.name === "HassMediaPause");
    expect(pause.kept).toBe(true);
    expect(typeof pause.semantic).toBe("number");
    expect(body.tools.filter((t: any) => !t.kept).every((t: any) => typeof t.reason === "string")).toBe(true);
    const unauth = await fetch(`${proxy.url}/admin/tools/rank`, { method: "POST", body: "{}" });
    expect(unauth.status).toBe(401);
    const bad = await fetch(`${proxy.url}/admin/tools/rank`, { method: "POST", headers: { authorization: "Bearer client-key", "content-type": "application/json" }, body: JSON.stringify({ messages: [] }) });
    expect(bad.status).toBe(400);
  });

  test("a slow embedder hits the deadline and the request goes on with lexical ranking", async () => {
    const slow: Embedder = { model: "slow", status: "ready", ready: async () => true, embed: () => new Promise(() => {}), close() {} };
    proxy.runtime.selector.useEmbedder(slow);
    const before = proxy.runtime.state.config.selection.deadline_ms;
    (proxy.runtime.state.config.selection as { deadline_ms: number }).deadline_ms = 30;
    try {
      await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "turn off the kitchen lights" }], tools });
      expect(lastTools().map(nameOf)).toContain("HassTurnOff");
      expect(proxy.rows().at(-1)!.selection_mode).toBe("lexical (deadline)");
    } finally {
      (proxy.runtime.state.config.selection as { deadline_ms: number }).deadline_ms = before;
    }
  });
});

describe("config reload", () => {
  test("the selector (Worker, caches) outlives a reload", async () => {
    const selector = proxy.runtime.selector;
    proxy.runtime.reload();
    expect(proxy.runtime.state.selector).toBe(selector);
    expect(proxy.runtime.selector.embedderStatus).not.toBe("failed");
  });
});

describe("a missing model", () => {
  test("falls back to lexical with one warning; the request still succeeds", async () => {
    const up = new FakeOpenAIUpstream();
    const p = startProxy({
      upstreams: [{ name: "fake", base_url: up.url, api_key: "k" }],
      selection: { embedding_model: "no-such-model", models_dir: join(shared, "models") },
    });
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
    try {
      expect(await p.runtime.selector.ready()).toBe(false);
      const c = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: "x", maxRetries: 0 });
      for (let i = 0; i < 2; i++) {
        const res = await c.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "turn off the kitchen lights" }], tools });
        expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      }
      expect(up.chatRequests.at(-1)!.body.tools.map(nameOf)).toContain("HassTurnOff");
      expect(p.rows().at(-1)!.selection_mode).toBe("lexical (model unavailable)");
      expect(warnings.filter((w) => w.includes("lexical-only")).length).toBe(1);
      expect(warnings[0]).toContain("no-such-model");
    } finally {
      console.warn = warn;
      p.stop();
      up.stop();
    }
  });
});
