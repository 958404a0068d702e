/**
 * The selection hot path under hostile and bursty input: a tool no client should send does not hold
 * the event loop (issue: one 16 KB description froze the proxy for 20 s), and every lazily loaded
 * resource is loaded once however many requests arrive before it is ready (no cold-start herd), and
 * a repeated conversation is answered from memory.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema, type SelectionConfig } from "../src/config/schema.ts";
import type { Tool } from "../src/protocol/openai.ts";
import type { Embedder } from "../src/selection/embedder.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const HA_TOOLS = JSON.parse(readFileSync(join(import.meta.dir, "../../shared/datasets/tool-selection/tools/ha-assist.json"), "utf8")) as object[];
const tool = (name: string, description: string, parameters?: object) => ({ type: "function", function: { name, description, ...(parameters ? { parameters } : {}) } });

const cleanup: (() => void)[] = [];
afterAll(() => cleanup.forEach((f) => f()));

function proxyWith(upstream: FakeOpenAIUpstream, selection: Record<string, unknown>): TestProxy {
  const proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0, models: ["fake-model"] }], selection });
  cleanup.push(() => proxy.stop());
  return proxy;
}

const chat = (proxy: TestProxy, tools: object[], content = "turn on the kitchen light", signal?: AbortSignal) =>
  fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content }], tools }),
    signal,
  });

describe("hostile input does not hold the event loop", () => {
  test("16 KB descriptions without spaces, 100 KB of spaces in a message: /health answers while those requests are in flight, and they reach the upstream", async () => {
    // js-tiktoken's BPE is quadratic in a piece's length (16 KB: ~20 s), and so was
    // the identifier splitter on a long capital run: either would hold these requests, and /health,
    // far beyond the test's timeout. The upstream holds its replies, so the requests stay in flight.
    const upstream = new FakeOpenAIUpstream({ reply: { delayMs: 60_000 } });
    cleanup.push(() => upstream.stop());
    const proxy = proxyWith(upstream, { mode: "lexical" });
    const hostile = [
      [tool("one_tool", "d".repeat(16_000))], // too few tools to select: counted all the same before
      [...HA_TOOLS, tool("lower_run", "d".repeat(16_000))],
      [...HA_TOOLS, tool("capital_run", "D".repeat(16_000))],
      [...HA_TOOLS, tool("punctuation_run", "-!".repeat(8_000))],
      [...HA_TOOLS, tool("space_run", `Turns on${" ".repeat(200_000)}the lights.`)], // the description splitter was quadratic on spaces
    ];
    const abort = new AbortController();
    const inFlight = hostile.map((tools) => chat(proxy, tools, "turn on the kitchen light", abort.signal).catch(() => undefined));
    // The conversation too: 100,000 spaces in the user message (the clause splitter was quadratic on them, ~12 s).
    inFlight.push(chat(proxy, HA_TOOLS, `turn on the kitchen light${" ".repeat(100_000)}please`, abort.signal).catch(() => undefined));
    const health = await fetch(`${proxy.url}/health`);
    expect(health.status).toBe(200);
    while (upstream.chatRequests.length < inFlight.length) await Bun.sleep(5);
    // Still in flight: held by the upstream, so /health was answered in the middle of them.
    const settled = await Promise.race([Promise.all(inFlight).then(() => true), Bun.sleep(0).then(() => false)]);
    expect(settled).toBe(false);
    const received = upstream.chatRequests.map((r) => (r.body.tools as { function: { name: string } }[]).map((t) => t.function.name));
    expect(received.some((names) => names.includes("one_tool"))).toBe(true);
    abort.abort();
  });
});

describe("a long message", () => {
  test("its start and its end are read: the action up front and a request after pasted text both count", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-long-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = Value.Default(SelectionSchema, { mode: "lexical" }) as SelectionConfig;
    const selector = new ToolSelector({ dataDir: dir, config });
    cleanup.push(() => selector.close());
    const pasted = "zq ".repeat(200_000);
    const content = `Turn on the kitchen light. ${pasted} Also set a timer for ten minutes.`;
    const result = (await selector.select({ model: "m", messages: [{ role: "user", content }], tools: HA_TOOLS as Tool[] }, resolveSettings(config, [])))!;
    const kept = result.kept.map((t) => t.function.name);
    expect(kept).toContain("HassTurnOn");
    expect(kept).toContain("HassStartTimer");
  });
});

describe("no cold-start herd", () => {
  test("8 concurrent first requests fetch the upstream's model list once", async () => {
    const upstream = new FakeOpenAIUpstream();
    upstream.modelsDelayMs = 100;
    cleanup.push(() => upstream.stop());
    const proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], selection: { mode: "off" } });
    cleanup.push(() => proxy.stop());
    const replies = await Promise.all(Array.from({ length: 8 }, () => chat(proxy, [])));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(upstream.requests.filter((r) => r.path === "/v1/models").length).toBe(1);
  });

  test("8 concurrent first requests embed every tool view and the query once", async () => {
    const upstream = new FakeOpenAIUpstream();
    cleanup.push(() => upstream.stop());
    const embedded: string[] = [];
    upstream.embed = async (texts) => {
      embedded.push(...texts);
      await Bun.sleep(50);
      return texts.map((t) => [1, t.length % 7, 0.5]);
    };
    const proxy = startProxy({
      upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0, models: ["fake-model"] }],
      selection: { mode: "hybrid", deadline_ms: 5_000, embeddings: { upstream: "fake", model: "embed-model" } },
    });
    cleanup.push(() => proxy.stop());
    const replies = await Promise.all(Array.from({ length: 8 }, () => chat(proxy, HA_TOOLS, "switch on the hallway lamp")));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(embedded.length).toBeGreaterThan(HA_TOOLS.length);
    expect(new Set(embedded).size).toBe(embedded.length);
    expect(embedded).toContain("switch on the hallway lamp");
    const rows = proxy.rows();
    expect(rows.map((r) => r.selection_mode)).toEqual(Array(8).fill("hybrid"));
  });
});

describe("remembered outcomes", () => {
  test("a repeated conversation is answered from memory; a fallback is not remembered; another conversation is ranked anew", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-memo-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = Value.Default(SelectionSchema, { mode: "hybrid", deadline_ms: 20 }) as SelectionConfig;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[][] = [];
    const embedder: Embedder = {
      model: "gated",
      status: "ready",
      ready: async () => true,
      async embed(texts) {
        calls.push(texts);
        await gate;
        return texts.map((t) => Float32Array.from([1, t.length % 5, 0.5]));
      },
      close() {},
    };
    const selector = new ToolSelector({ dataDir: dir, config, embedder });
    cleanup.push(() => selector.close());
    const settings = resolveSettings(config, []);
    const request = (content: string, system = "You are a voice assistant. Current time is 19:42:07.") => ({
      model: "m",
      messages: [
        { role: "system" as const, content: system },
        { role: "user" as const, content },
      ],
      tools: HA_TOOLS as Tool[],
    });
    // The embedder is held: the deadline passes, the ranking is lexical, and that is not remembered.
    expect((await selector.select(request("turn on the kitchen light"), settings))!.mode).toBe("lexical (deadline)");
    release();
    const first = (await selector.select(request("turn on the kitchen light"), settings))!;
    expect(first.mode).toBe("hybrid");
    const embedCalls = calls.length;
    // Same conversation, another time of day in the system prompt: the same decisions, nothing embedded.
    const again = (await selector.select(request("turn on the kitchen light", "You are a voice assistant. Current time is 19:43:10."), settings))!;
    expect(again.decisions).toEqual(first.decisions);
    // Shared by the requests it answers, so frozen: a caller cannot change the remembered outcome.
    expect(() => (again.decisions as unknown[]).pop()).toThrow(TypeError);
    expect(again.decisions).toEqual(first.decisions);
    expect(calls.length).toBe(embedCalls);
    // Another request is ranked anew (its query is embedded).
    const other = (await selector.select(request("set a timer for ten minutes"), settings))!;
    expect(calls.length).toBe(embedCalls + 1);
    expect(other.kept.map((t) => t.function.name)).toContain("HassStartTimer");
  });
});
