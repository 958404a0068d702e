import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { haConversation } from "../bench/ha-conversation.ts";
import type { ChatMessage } from "../src/protocol/openai.ts";
import { FakeOllamaUpstream } from "./fakes/ollama-upstream.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

/** The fake refuses prompts over this many tokens, as llama.cpp started with `-c 8192` does. */
const N_CTX = 8192;

let upstream: FakeOpenAIUpstream;
/** Compression on (the default), selection off so that only compression touches the tools. */
let proxy: TestProxy;
/** Compression off. */
let plain: TestProxy;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ nCtx: N_CTX });
  const base = { upstreams: [{ name: "fake", base_url: upstream.url, api_key: "k" }], selection: { mode: "off" } };
  proxy = startProxy({ ...base, compression: { models: { "seeded-*": { mode: "random", keep_ratio: 0.5 } }, seed: 7 } });
  plain = startProxy({ ...base, compression: { mode: "off" } });
});
afterAll(() => {
  proxy.stop();
  plain.stop();
  upstream.stop();
});

/** A conversation far over the fake's context: 120 entities, 34 tools, 14 rounds. */
const big = haConversation({ entities: 120, tools: 34, rounds: 14 }, 3);
const openaiClient = (p: TestProxy) => new OpenAI({ baseURL: `${p.url}/v1`, apiKey: "x", maxRetries: 0 });
const lastSent = () => upstream.chatRequests.at(-1)!.body;

/** What must arrive untouched: the system prompt, every tool, the last user message; and no orphaned tool message. */
function expectIntact(sent: { messages: ChatMessage[]; tools?: unknown[] }, original: { messages: ChatMessage[]; tools?: unknown[] }) {
  expect(sent.messages[0]).toEqual(original.messages[0]!);
  expect(sent.messages.at(-1)).toEqual(original.messages.at(-1)!);
  expect(sent.tools).toEqual(original.tools!);
  const calls = new Set(sent.messages.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id)));
  for (const m of sent.messages) if (m.role === "tool") expect(calls.has(m.tool_call_id!)).toBe(true);
  expect(sent.messages.length).toBeLessThan(original.messages.length);
}

describe("compression through the OpenAI front", () => {
  test("without the stage the upstream refuses the request; with it the request fits the window the upstream reports", async () => {
    expect(upstream.promptTokens(big)).toBeGreaterThan(N_CTX);
    const refused = await openaiClient(plain).chat.completions.create({ ...big, model: "fake-model" } as any).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused.message).toContain("exceeds the available context size");

    const { data, response } = await openaiClient(proxy).chat.completions.create({ ...big, model: "fake-model", max_tokens: 512 } as any).withResponse();
    expect(data.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const sent = lastSent();
    expectIntact(sent, big);
    expect(upstream.promptTokens(sent)).toBeLessThanOrEqual(N_CTX - 512);
    const [before, after] = response.headers.get("x-llm-proxy-compression")!.split("->").map(Number);
    expect(before).toBeGreaterThan(N_CTX);
    expect(after).toBeLessThanOrEqual(N_CTX - 512);

    const row = proxy.rows().at(-1)!;
    expect(row).toMatchObject({ status: 200, compression_mode: "fit", prompt_tokens_estimated: before, prompt_tokens_estimated_after: after, token_budget: N_CTX - 512 });
    const steps = JSON.parse(row.compression_steps as unknown as string);
    expect(steps.history).toBeGreaterThan(0);
    expect(steps["over budget"]).toBeUndefined();
    expect(row.messages_dropped).toBe(big.messages.length - sent.messages.length);
  });

  test("a request that fits goes through byte for byte, with the header saying so", async () => {
    const small = haConversation({ entities: 20, tools: 34, rounds: 2 }, 4);
    const body = JSON.stringify({ ...small, model: "fake-model" });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    const [before, after] = res.headers.get("x-llm-proxy-compression")!.split("->").map(Number);
    expect(before).toBe(after!);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(body);
  });

  test("when even the tools do not fit, step 4 cuts them by selection and keeps the relevant ones", async () => {
    const crowded = haConversation({ entities: 200, tools: 76, rounds: 6 }, 5);
    const last = "Turn off the kitchen ceiling light please";
    crowded.messages[crowded.messages.length - 1] = { role: "user", content: last };
    const { response } = await openaiClient(proxy).chat.completions.create({ ...crowded, model: "fake-model", max_tokens: 256 } as any).withResponse();
    expect(response.status).toBe(200);
    const sent = lastSent();
    const names = (sent.tools as any[]).map((t) => t.function.name);
    expect(names.length).toBeLessThan(76);
    expect(names).toContain("HassTurnOff");
    expect(sent.messages[0]).toEqual(crowded.messages[0]!);
    expect(sent.messages.at(-1).content).toBe(last);
    expect(JSON.parse(proxy.rows().at(-1)!.compression_steps as unknown as string).tools).toBeGreaterThan(0);
  });

  test("the upstream's usage calibrates the estimate, shown under /admin/compression", async () => {
    await proxy.runtime.compression.estimator.settle();
    // learning happens after the background counts: give it a moment
    for (let i = 0; i < 50 && !proxy.runtime.compression.calibration.snapshot()["fake/fake-model"]; i++) await Bun.sleep(20);
    const admin = (await (await fetch(`${proxy.url}/admin/compression`)).json()) as any;
    const entry = admin.calibration["fake/fake-model"];
    expect(entry.samples).toBeGreaterThanOrEqual(1);
    expect(entry.messages).toBeGreaterThan(0.3);
    expect(entry.tools).toBeGreaterThan(0.3);
  });

  test("a context-size refusal teaches the calibration: the next request fits", async () => {
    // An upstream whose tokenizer needs about twice the tokens we estimate.
    const dense = new FakeOpenAIUpstream({ nCtx: N_CTX, charsPerToken: 2 });
    const learning = startProxy({ upstreams: [{ name: "dense", base_url: dense.url, api_key: "k" }], selection: { mode: "off" } });
    try {
      const client = openaiClient(learning);
      const first = await client.chat.completions.create({ ...big, model: "fake-model", max_tokens: 256 } as any).catch((e) => e);
      expect(first).toBeInstanceOf(OpenAI.BadRequestError);
      const calibration = learning.runtime.compression.calibration;
      await learning.runtime.compression.estimator.settle();
      for (let i = 0; i < 50 && !calibration.snapshot()["dense/fake-model"]; i++) await Bun.sleep(20);
      expect(calibration.weights("dense/fake-model").messages).toBeGreaterThan(1.5);
      const second = await client.chat.completions.create({ ...big, model: "fake-model", max_tokens: 256 } as any);
      expect(second.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      expect(dense.promptTokens(dense.chatRequests.at(-1)!.body)).toBeLessThanOrEqual(N_CTX);
    } finally {
      learning.stop();
      dense.stop();
    }
  });

  test("a request does not wait long for the upstream's facts: a slow answer serves the requests after it", async () => {
    const slow = new FakeOpenAIUpstream({ nCtx: N_CTX });
    slow.modelsDelayMs = 2500;
    const waiting = startProxy({ upstreams: [{ name: "slow", base_url: slow.url, api_key: "k" }], selection: { mode: "off" } });
    try {
      // "slow/fake-model" names its upstream: resolving it lists no models, only the facts lookup waits.
      const ask = () => fetch(`${waiting.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "slow/fake-model", messages: [{ role: "user", content: "hi" }] }) });
      expect((await ask()).headers.get("x-llm-proxy-compression")).toBeNull();
      expect(waiting.rows().at(-1)!.compression_mode).toBe("fit (no budget)");
      let header: string | null = null;
      for (let i = 0; i < 40 && !header; i++) {
        await Bun.sleep(250);
        header = (await ask()).headers.get("x-llm-proxy-compression");
      }
      expect(header).toMatch(/^\d+->\d+$/);
      expect(waiting.rows().at(-1)).toMatchObject({ compression_mode: "fit", token_budget: N_CTX - 1024 });
    } finally {
      waiting.stop();
      slow.stop();
    }
  });

  test("mode random per model: user messages are thinned deterministically, the rest untouched", async () => {
    const request = { model: "fake/seeded-model", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "please turn on every single light in the living room and the kitchen right now" }] } as const;
    await openaiClient(proxy).chat.completions.create(request as any);
    const first = lastSent().messages;
    await openaiClient(proxy).chat.completions.create(request as any);
    const second = lastSent().messages;
    expect(first[0]).toEqual(request.messages[0]);
    expect(first[1].content.length).toBeLessThan(request.messages[1].content.length);
    expect(second).toEqual(first);
    expect(proxy.rows().at(-1)).toMatchObject({ compression_mode: "random", messages_truncated: 1 });
  });

  test("fail open: an error inside the stage sends the request unchanged and is counted", async () => {
    const estimator = proxy.runtime.compression.estimator;
    const spy = spyOn(estimator, "messageTokens").mockImplementation(() => {
      throw new Error("estimator broke");
    });
    const quiet = spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const failures = proxy.runtime.compression.failures;
      const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }) });
      expect(res.status).toBe(200);
      expect(lastSent().messages).toEqual([{ role: "user", content: "hi" }]);
      expect(proxy.runtime.compression.failures).toBe(failures + 1);
    } finally {
      spy.mockRestore();
      quiet.mockRestore();
    }
  });
});

describe("compression through the Ollama front", () => {
  const ollamaBody = () => ({
    model: "fake-model",
    // Ollama's shape: arguments as objects, no call ids; results answer the calls in order.
    messages: big.messages.map((m) =>
      m.tool_calls
        ? { role: "assistant", content: "", tool_calls: m.tool_calls.map((c) => ({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } })) }
        : m.role === "tool"
          ? { role: "tool", content: m.content }
          : m,
    ) as any,
    tools: big.tools as any,
    stream: false as const,
    options: { num_ctx: N_CTX },
  });

  test("Home Assistant's num_ctx is the budget: refused without the stage, answered with it, system prompt, tools and last message intact", async () => {
    const refused = await new Ollama({ host: plain.url }).chat(ollamaBody()).catch((e) => e);
    expect(refused.status_code ?? refused.status).toBe(400);
    expect(String(refused.message ?? refused.error)).toContain("exceeds the available context size");

    const reply = await new Ollama({ host: proxy.url }).chat(ollamaBody());
    expect(reply.message.content).toBe("Hello from the fake upstream.");
    const sent = lastSent();
    expect(sent.messages[0]).toEqual(big.messages[0]);
    expect(sent.messages.at(-1)).toEqual(big.messages.at(-1));
    expect(sent.tools).toEqual(big.tools);
    const calls = new Set(sent.messages.flatMap((m: ChatMessage) => (m.tool_calls ?? []).map((c) => c.id)));
    for (const m of sent.messages) if (m.role === "tool") expect(calls.has(m.tool_call_id)).toBe(true);
    // no num_predict: the configured reply reserve (1024) is kept free
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/chat", status: 200, token_budget: N_CTX - 1024 });
  });

  test("to a native Ollama upstream the compressed request keeps num_ctx and the client's other options", async () => {
    const ollama = new FakeOllamaUpstream();
    const native = startProxy({ upstreams: [{ name: "home", type: "ollama", base_url: ollama.url }], selection: { mode: "off" } });
    try {
      await new Ollama({ host: native.url }).chat({ ...ollamaBody(), model: "qwen3:8b", keep_alive: "5m", options: { num_ctx: N_CTX, temperature: 0.2 } });
      const sent = ollama.chatRequests.at(-1)!.body;
      expect(sent.options).toMatchObject({ num_ctx: N_CTX, temperature: 0.2 });
      expect(sent.keep_alive).toBe("5m");
      expect(sent.messages.length).toBeLessThan(big.messages.length);
      expect(sent.messages[0].content).toBe(big.messages[0]!.content);
      expect(sent.messages.at(-1).content).toBe(big.messages.at(-1)!.content);
      expect(native.rows().at(-1)).toMatchObject({ upstream: "home", status: 200, token_budget: N_CTX - 1024 });
    } finally {
      native.stop();
      ollama.stop();
    }
  });

  test("with compression.log the before/after text goes to stdout", async () => {
    const logged = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, api_key: "k" }], selection: { mode: "off" }, compression: { log: true } });
    const out: string[] = [];
    const spy = spyOn(console, "log").mockImplementation((...args: unknown[]) => void out.push(args.join(" ")));
    try {
      await new Ollama({ host: logged.url }).chat(ollamaBody());
    } finally {
      spy.mockRestore();
      logged.stop();
    }
    const text = out.join("\n");
    expect(text).toMatch(/compression: fit, \d+ -> \d+ estimated tokens, budget 7168 \(request window 8192\)/);
    expect(text).toContain("dropped messages [1] user");
  });
});
