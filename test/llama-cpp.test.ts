/**
 * Fidelity to a real llama.cpp `llama-server` (../shared/llama-cpp: random-weight Qwen2 models, real
 * server, real chat template and tool-call parsing), through both fronts with the real openai and
 * ollama clients: what the upstream reports about its model (/v1/models entries, /api/show), Ollama
 * durations from llama.cpp's `timings`, named tool_choice, the pass-through of llama.cpp's own
 * endpoints, and what already worked (streams, tool calls, usage, context errors).
 *
 * Skipped, with start.sh's reason, only when the bundled binary cannot run on this machine (start.sh
 * exit 3); any other start failure fails the suite. Every server started here is stopped in afterAll.
 * Ports 20620-20629 (tiny on an even one, tools-tiny on an odd one: the first free of each).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { getModelFacts } from "../src/upstream/model-facts.ts";
import { startLlamaServer, type LlamaServer } from "./fakes/llama-server.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

/** Timeout of a test that generates: tools-tiny writes ~40 tokens/s on a 2-core machine at load 10 (400 idle). */
const SLOW = 60_000;

/** Context size of the `tiny` server: not llama-server's default (8192) nor the model's n_ctx_train (32768). */
const TINY_CTX = 4096;

const PORTS = Array.from({ length: 10 }, (_, i) => 20620 + i);
const [tiny, tools] = await Promise.all([
  startLlamaServer("tiny", PORTS.filter((p) => p % 2 === 0), { CTX: String(TINY_CTX), ALIAS: "tiny-random" }),
  startLlamaServer("tools-tiny", PORTS.filter((p) => p % 2 === 1), { ALIAS: "tools-random" }),
]);
const servers = [tiny, tools].filter((s): s is LlamaServer => "pid" in s);
const skip = [tiny, tools].find((s): s is { skip: string } => "skip" in s)?.skip;
if (skip) {
  for (const s of servers) s.stop();
  console.warn(`test/llama-cpp.test.ts skipped: the bundled llama-server cannot run on this machine: ${skip}`);
}

let proxy: TestProxy;
let openai: OpenAI;
let ollama: Ollama;

/** Request-log row number `n` (1-based): a stream's row is written when the proxy has read the upstream's end, a moment after the client. */
async function nthRow(n: number) {
  for (let i = 0; i < 200 && proxy.rows().length < n; i++) await Bun.sleep(10);
  return proxy.rows()[n - 1]!;
}

/** The latest request-log row for `endpoint`, once one is written. */
async function lastRowFor(endpoint: string) {
  for (let i = 0; i < 200 && !proxy.rows().some((r) => r.endpoint === endpoint); i++) await Bun.sleep(10);
  return proxy.rows().findLast((r) => r.endpoint === endpoint);
}

describe.skipIf(skip !== undefined)("llm-proxy in front of a real llama-server", () => {
  beforeAll(() => {
    const t = tiny as LlamaServer;
    const tt = tools as LlamaServer;
    proxy = startProxy({
      // Bodies in the log: the tests read llama-server's own reply (its `timings`) back from it.
      log: { bodies: true },
      upstreams: [
        { name: "tiny", base_url: `${t.url}/v1`, max_retries: 0, passthrough: ["/props", "/tokenize", "/detokenize", "/apply-template", "/slots", "/health"] },
        { name: "tools", base_url: `${tt.url}/v1`, max_retries: 0, passthrough: ["/props"] },
        // The same server with the named tool_choice passed on as is: shows what the fix is for.
        { name: "tools-native", base_url: `${tt.url}/v1`, max_retries: 0, named_tool_choice: "native", models: [] },
      ],
    });
    openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
    ollama = new Ollama({ host: proxy.url });
  });
  afterAll(() => {
    proxy?.stop();
    for (const s of servers) s.stop();
  });

  describe("what the upstream reports about its model", () => {
    test("GET /v1/models keeps llama-server's own entry fields (meta, aliases, tags)", async () => {
      const list = [];
      for await (const m of openai.models.list()) list.push(m as OpenAI.Model & { meta?: Record<string, number>; aliases?: string[]; tags?: string[] });
      const entry = list.find((m) => m.id === "tiny-random")!;
      expect(entry.owned_by).toBe("tiny");
      expect(entry.aliases).toEqual(["tiny-random"]);
      expect(entry.tags).toEqual([]);
      expect(entry.meta).toMatchObject({ n_ctx: TINY_CTX, n_ctx_train: 32768, n_vocab: 151936 });
      expect(entry.meta!.n_params).toBeGreaterThan(0);
      expect(list.map((m) => m.id).sort()).toEqual(["tiny-random", "tools-random"]);
    });

    test("model facts: context window, training context, llama.cpp build and slots", async () => {
      const facts = await getModelFacts(proxy.runtime.state.upstreams.get("tiny")!, "tiny-random");
      expect(facts).toMatchObject({ server: "llama.cpp", context_length: TINY_CTX, n_ctx_train: 32768, total_slots: 4, quantization: "F32", n_vocab: 151936 });
      expect(facts.build_info).toMatch(/^b\d+/);
      expect(facts.parameter_size).toMatch(/^\d+(\.\d+)?M$/);
    });

    test("/api/show reports the server's context size, parameter size and quantization", async () => {
      const info = await ollama.show({ model: "tiny-random" });
      const modelInfo = info.model_info as unknown as Record<string, unknown>;
      const contextKeys = Object.keys(modelInfo).filter((k) => k.endsWith(".context_length"));
      expect(contextKeys).toHaveLength(1);
      expect(modelInfo[contextKeys[0]!]).toBe(TINY_CTX);
      expect(info.parameters).toBe(`num_ctx ${TINY_CTX}`);
      expect(info.details.parameter_size).toMatch(/^\d+(\.\d+)?M$/);
      expect(info.details.quantization_level).toBe("F32");
      expect(info.capabilities).toContain("tools");
      const { models } = await ollama.list();
      expect(models.find((m) => m.name === "tiny-random")!.details).toMatchObject({ quantization_level: "F32", parameter_size: info.details.parameter_size });
    });
  });

  describe("Ollama durations come from llama.cpp's timings", () => {
    /** The llama.cpp `timings` of logged reply number `n` (JSON body, or the SSE chunk that carries them). */
    const upstreamTimings = async (n: number) => {
      const body = (await nthRow(n)).response_body!;
      if (!body.startsWith("data:")) return JSON.parse(body).timings;
      const events = body.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
      return events.findLast((e) => e.timings)!.timings;
    };

    for (const stream of [false, true]) {
      test(`/api/chat and /api/generate, ${stream ? "streamed" : "not streamed"}`, async () => {
        for (const kind of ["chat", "generate"] as const) {
          const request = { model: "tiny-random", options: { num_predict: 12, seed: 1 } };
          const n = proxy.rows().length + 1;
          let final: { prompt_eval_count?: number; prompt_eval_duration?: number; eval_count?: number; eval_duration?: number; total_duration?: number; done?: boolean };
          if (stream) {
            const parts = kind === "chat" ? await ollama.chat({ ...request, stream: true, messages: [{ role: "user", content: "Count to ten." }] }) : await ollama.generate({ ...request, stream: true, prompt: "Count to ten." });
            for await (const part of parts) final = part;
          } else {
            final = kind === "chat" ? await ollama.chat({ ...request, stream: false, messages: [{ role: "user", content: "Count to ten." }] }) : await ollama.generate({ ...request, stream: false, prompt: "Count to ten." });
          }
          const timings = await upstreamTimings(n);
          expect(final!.done).toBe(true);
          expect(final!.eval_count).toBeGreaterThan(0);
          expect(final!.eval_count).toBeLessThanOrEqual(12);
          expect(final!.eval_count).toBe(timings.predicted_n);
          expect(final!.prompt_eval_count).toBe(timings.prompt_n + timings.cache_n);
          expect(final!.prompt_eval_duration).toBe(Math.round(timings.prompt_ms * 1e6));
          expect(final!.eval_duration).toBe(Math.round(timings.predicted_ms * 1e6));
          expect(final!.total_duration!).toBeGreaterThanOrEqual(final!.eval_duration!);
        }
      }, SLOW);
    }
  });

  const weatherTools: OpenAI.ChatCompletionTool[] = ["alpha", "beta", "gamma"].map((name) => ({
    type: "function",
    function: { name, description: `Tool ${name}`, parameters: { type: "object", properties: { x: { type: "integer" } } } },
  }));
  const named = { type: "function", function: { name: "beta" } } as const;
  const calledNames = (res: OpenAI.ChatCompletion) => (res.choices[0]!.message.tool_calls ?? []).map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.name);

  describe("named tool_choice", () => {
    const ask = (model: string, seed: number) =>
      openai.chat.completions.create({ model, seed, max_tokens: 60, messages: [{ role: "user", content: "hi" }], tools: weatherTools, tool_choice: named });
    // Seeds for which this model, offered all three tools, calls another one (found by trying: it picks at random).
    const seeds = [2, 5];

    test("llama.cpp treats a named choice as auto: passed on as is, the model calls other tools", async () => {
      // The picks can vary a little with the server's batching: more seeds are tried until one shows it.
      const names: string[] = [];
      for (const seed of [...seeds, 1, 6, 8]) {
        names.push(...calledNames(await ask("tools-native/tools-random", seed)));
        if (names.some((n) => n !== "beta")) break;
      }
      expect(names.some((n) => n !== "beta")).toBe(true);
    }, SLOW);

    test("the proxy makes it true (llama.cpp detected from /props): every call is the named tool", async () => {
      for (const seed of seeds) {
        const names = calledNames(await ask("tools-random", seed));
        expect(names.length).toBeGreaterThan(0);
        expect(new Set(names)).toEqual(new Set(["beta"]));
      }
    }, SLOW);
  });

  describe("what works as directly", () => {
    test("OpenAI stream: content deltas, finish_reason, usage with include_usage", async () => {
      const n = proxy.rows().length + 1;
      const stream = await openai.chat.completions.create({ model: "tiny-random", max_tokens: 8, seed: 2, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] });
      let deltas = 0;
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) deltas++;
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      // A random model may end early (its end-of-turn token): "stop" before max_tokens, else "length".
      expect(deltas).toBeGreaterThan(0);
      expect(usage!.completion_tokens).toBeLessThanOrEqual(8);
      expect(finish).toBe(usage!.completion_tokens === 8 ? "length" : "stop");
      expect(usage!.prompt_tokens).toBeGreaterThan(0);
      expect(await nthRow(n)).toMatchObject({ status: 200, upstream: "tiny", prompt_tokens: usage!.prompt_tokens, completion_tokens: usage!.completion_tokens, finish_reason: finish });
    }, SLOW);

    test("tool calls, not streamed and streamed, through the openai client", async () => {
      const request = { model: "tools-random", max_tokens: 100, seed: 7, messages: [{ role: "user" as const, content: "hi" }], tools: weatherTools, tool_choice: "required" as const };
      const whole = await openai.chat.completions.create(request);
      expect(whole.choices[0]!.finish_reason).toBe("tool_calls");
      const calls = whole.choices[0]!.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
      expect(calls.length).toBeGreaterThan(0);
      for (const c of calls) expect(typeof JSON.parse(c.function.arguments)).toBe("object");
      expect(whole.usage!.completion_tokens).toBeGreaterThan(0);

      const stream = await openai.chat.completions.create({ ...request, stream: true });
      const parts = new Map<number, { name: string; args: string }>();
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
          const p = parts.get(d.index) ?? { name: "", args: "" };
          p.name += d.function?.name ?? "";
          p.args += d.function?.arguments ?? "";
          parts.set(d.index, p);
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe("tool_calls");
      expect(parts.size).toBeGreaterThan(0);
      for (const p of parts.values()) {
        expect(["alpha", "beta", "gamma"]).toContain(p.name);
        expect(typeof JSON.parse(p.args)).toBe("object");
      }
    }, SLOW);

    test("tool calls through the Ollama front: whole calls with object arguments, streamed and not", async () => {
      const ollamaTools = weatherTools.map((t) => t as unknown as import("ollama").Tool);
      const whole = await ollama.chat({ model: "tools-random", stream: false, options: { num_predict: 100, seed: 7 }, messages: [{ role: "user", content: "hi" }], tools: ollamaTools });
      expect(whole.message.tool_calls!.length).toBeGreaterThan(0);
      for (const c of whole.message.tool_calls!) expect(typeof c.function.arguments).toBe("object");
      const calls = [];
      for await (const part of await ollama.chat({ model: "tools-random", stream: true, options: { num_predict: 100, seed: 7 }, messages: [{ role: "user", content: "hi" }], tools: ollamaTools })) {
        calls.push(...(part.message.tool_calls ?? []));
      }
      expect(calls.length).toBeGreaterThan(0);
      for (const c of calls) expect(typeof c.function.arguments).toBe("object");
    }, SLOW);

    test("Ollama `format` schema: llama.cpp's grammar holds the reply to it", async () => {
      const format = { type: "object", properties: { color: { type: "string", enum: ["red", "blue"] } }, required: ["color"], additionalProperties: false };
      const res = await ollama.chat({ model: "tiny-random", stream: false, format, options: { num_predict: 30, seed: 1 }, messages: [{ role: "user", content: "Which color?" }] });
      expect(["red", "blue"]).toContain(JSON.parse(res.message.content).color);
    }, SLOW);

    test("a client that goes away mid-stream stops the generation on llama-server (slot freed, row 499)", async () => {
      const controller = new AbortController();
      const stream = await openai.chat.completions.create(
        { model: "tiny-random", max_tokens: 4000, stream: true, messages: [{ role: "user", content: "Write a long story." }] },
        { signal: controller.signal },
      );
      let chunks = 0;
      await (async () => {
        for await (const _ of stream) if (++chunks === 3) controller.abort();
      })().catch(() => {});
      // Uncancelled, the slot would go on for 4,000 tokens (7 s at tiny's 600 tokens/s on an idle machine, more under
      // load); cancelled, llama-server notices at its next token and frees it: 2 s is ample.
      const busy = async () => ((await (await fetch(`${proxy.url}/slots`)).json()) as { is_processing: boolean }[]).some((slot) => slot.is_processing);
      for (let i = 0; i < 80 && (await busy()); i++) await Bun.sleep(25);
      expect(await busy()).toBe(false);
      expect(await lastRowFor("/v1/chat/completions")).toMatchObject({ status: 499, error: "client disconnected" });
    }, SLOW);

    describe("a prompt longer than the context: llama.cpp's 400 on both fronts", () => {
      const long = "hello ".repeat(TINY_CTX + 500);

      test("OpenAI front, not streamed and streamed", async () => {
        for (const stream of [false, true]) {
          const n = proxy.rows().length + 1;
          const err = await openai.chat.completions.create({ model: "tiny-random", max_tokens: 4, stream, messages: [{ role: "user", content: long }] }).then(() => undefined, (e) => e);
          expect(err).toBeInstanceOf(OpenAI.BadRequestError);
          expect(err.message).toContain("exceeds the available context size");
          expect((err.error as { type?: string }).type).toBe("exceed_context_size_error");
          expect(await nthRow(n)).toMatchObject({ status: 400, retries: 0 });
        }
      }, SLOW);

      test("Ollama front, not streamed and streamed", async () => {
        for (const stream of [false, true]) {
          const run = async () => {
            if (!stream) return ollama.chat({ model: "tiny-random", stream: false, options: { num_predict: 4 }, messages: [{ role: "user", content: long }] });
            for await (const _ of await ollama.chat({ model: "tiny-random", stream: true, options: { num_predict: 4 }, messages: [{ role: "user", content: long }] }));
          };
          const err = await run().then(() => undefined, (e) => e);
          expect(err.status_code).toBe(400);
          expect(err.error).toContain("exceeds the available context size");
        }
      }, SLOW);
    });
  });

  describe("llama-server's own endpoints through the pass-through", () => {
    test("/props, /tokenize, /apply-template, /slots at the root; /health and another upstream's /props by name", async () => {
      const props = (await (await fetch(`${proxy.url}/props`)).json()) as { model_alias: string; total_slots: number; default_generation_settings: { n_ctx: number } };
      expect(props).toMatchObject({ model_alias: "tiny-random", total_slots: 4, default_generation_settings: { n_ctx: TINY_CTX } });
      const tokens = (await (await fetch(`${proxy.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "Hello world", with_pieces: true }) })).json()) as { tokens: { id: number; piece: string }[] };
      expect(tokens.tokens.map((t) => t.piece).join("")).toBe("Hello world");
      const back = (await (await fetch(`${proxy.url}/detokenize`, { method: "POST", body: JSON.stringify({ tokens: tokens.tokens.map((t) => t.id) }) })).json()) as { content: string };
      expect(back.content).toBe("Hello world");
      const template = (await (await fetch(`${proxy.url}/apply-template`, { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }) })).json()) as { prompt: string };
      expect(template.prompt).toContain("<|im_start|>user\nhi<|im_end|>");
      const slots = (await (await fetch(`${proxy.url}/slots`)).json()) as unknown[];
      expect(slots).toHaveLength(4);
      expect(await (await fetch(`${proxy.url}/upstreams/tiny/health`)).json()).toEqual({ status: "ok" });
      const other = (await (await fetch(`${proxy.url}/upstreams/tools/props`)).json()) as { model_alias: string };
      expect(other.model_alias).toBe("tools-random");
      expect((await fetch(`${proxy.url}/upstreams/tools/slots`)).status).toBe(404);
      expect(await lastRowFor("/upstreams/tools/props")).toMatchObject({ upstream: "tools", status: 200 });
    });
  });
});
