import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let ollama: Ollama;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["qwen3:8b", "llama3.2", "org/fake-model-2"] });
  proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], models: { aliases: { "assist:latest": "fake/qwen3:8b" } } });
  ollama = new Ollama({ host: proxy.url });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const tools = [
  { type: "function", function: { name: "HassTurnOn", description: "Turns on a device", parameters: { type: "object", properties: { name: { type: "string" } } } } },
];

const post = (path: string, body: unknown) =>
  fetch(`${proxy.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

const lastSent = () => upstream.chatRequests.at(-1)!.body;

describe("Ollama front with the ollama npm client (OpenAI upstream)", () => {
  test("GET / and HEAD / answer like Ollama; /api/version has a version", async () => {
    const res = await fetch(`${proxy.url}/`);
    expect(await res.text()).toBe("Ollama is running");
    expect((await fetch(`${proxy.url}/`, { method: "HEAD" })).status).toBe(200);
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test("list: every served model, name == model, with Ollama's fields", async () => {
    const { models } = await ollama.list();
    expect(models.map((m) => m.name).sort()).toEqual(["assist:latest", "llama3.2", "org/fake-model-2", "qwen3:8b"]);
    for (const m of models) {
      expect(m.model).toBe(m.name);
      expect(Number.isNaN(Date.parse(m.modified_at as unknown as string))).toBe(false);
      expect(m.size).toBeTypeOf("number");
      expect(m.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(m.details.family).toBeTypeOf("string");
    }
    expect(models.find((m) => m.name === "qwen3:8b")!.details).toMatchObject({ family: "qwen3", parameter_size: "8B" });
  });

  test("show: details, capabilities with tools, template and parameters strings; no invented context length", async () => {
    const info = await ollama.show({ model: "qwen3:8b" });
    expect(info.capabilities).toContain("tools");
    // The fake upstream reports no context window (no /props, nothing in its /v1/models entry): none is made up.
    expect(Object.keys(info.model_info as unknown as Record<string, unknown>).filter((k) => k.endsWith(".context_length"))).toEqual([]);
    expect(info.parameters).toBe("");
    expect(info.template).toBeTypeOf("string");
    expect(info.details).toMatchObject({ family: "qwen3", parameter_size: "8B", quantization_level: "unknown" });
    const missing = await ollama.show({ model: "nope" }).then(() => undefined, (err) => err);
    expect(missing.status_code).toBe(404);
  });

  test("ps lists served models with expires_at and size_vram", async () => {
    const { models } = await ollama.ps();
    expect(models.length).toBe(4);
    expect(models[0]!.size_vram).toBe(0);
    expect(Date.parse(models[0]!.expires_at as unknown as string)).toBeGreaterThan(Date.now());
  });

  test("chat, not streamed: options, format, think and keep_alive are translated", async () => {
    upstream.script.push({ content: "It is 21 degrees.", reasoning: "The sensor says 21." });
    const res = await ollama.chat({
      model: "qwen3:8b",
      stream: false,
      messages: [{ role: "system", content: "You are a voice assistant." }, { role: "user", content: "How warm is it?" }],
      options: { num_ctx: 8192, num_predict: 64, temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, stop: ["</s>"], repeat_penalty: 1.1, presence_penalty: 0.5, frequency_penalty: 0.25 },
      format: "json",
      think: "high",
      keep_alive: -1,
    });
    expect(res.message).toMatchObject({ role: "assistant", content: "It is 21 degrees.", thinking: "The sensor says 21." });
    expect(res.done).toBe(true);
    expect(res.done_reason).toBe("stop");
    expect(res.prompt_eval_count).toBeGreaterThan(0);
    expect(res.eval_count).toBeGreaterThan(0);
    expect(res.total_duration).toBeGreaterThan(0);
    const sent = lastSent();
    expect(sent).toMatchObject({ model: "qwen3:8b", stream: false, max_tokens: 64, temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, stop: ["</s>"], repetition_penalty: 1.1, presence_penalty: 0.5, frequency_penalty: 0.25 });
    expect(sent.response_format).toEqual({ type: "json_object" });
    expect(sent.reasoning_effort).toBe("high");
    for (const key of ["num_ctx", "options", "keep_alive", "think", "format", "num_predict"]) expect(sent[key]).toBeUndefined();
  });

  test("chat, streamed: NDJSON lines each with a message, final line with stats; logged like OpenAI requests", async () => {
    upstream.script.push({ content: "Turning on the kitchen light now.", chunks: 6, reasoning: "HassTurnOn fits." });
    const res = await fetch(`${proxy.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "qwen3:8b", messages: [{ role: "user", content: "kitchen light on" }] }) });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await res.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
    for (const line of lines) expect(line.message).toBeObject();
    expect(lines.map((l) => l.message.content).join("")).toBe("Turning on the kitchen light now.");
    expect(lines.map((l) => l.message.thinking ?? "").join("")).toBe("HassTurnOn fits.");
    const done = lines.at(-1)!;
    expect(done).toMatchObject({ done: true, done_reason: "stop", load_duration: 0 });
    for (const key of ["total_duration", "prompt_eval_duration", "eval_duration"]) expect(Number.isInteger(done[key])).toBe(true);
    expect(done.eval_count).toBe(Math.ceil("Turning on the kitchen light now.".length / 4));
    expect(lines.slice(0, -1).every((l) => l.done === false)).toBe(true);
    expect(lastSent().stream_options).toEqual({ include_usage: true });
    const row = proxy.rows().at(-1)!;
    expect(row).toMatchObject({ endpoint: "/api/chat", client_model: "qwen3:8b", upstream: "fake", status: 200, finish_reason: "stop", completion_tokens: done.eval_count });
  });

  test("the ollama client reassembles a streamed chat", async () => {
    const stream = await ollama.chat({ model: "llama3.2", stream: true, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    let last;
    for await (const part of stream) {
      text += part.message.content;
      last = part;
    }
    expect(text).toBe("Hello from the fake upstream.");
    expect(last!.done).toBe(true);
    expect(lastSent().model).toBe("llama3.2");
  });

  test(":latest is implied both ways: llama3.2:latest reaches llama3.2, assist resolves its alias", async () => {
    await ollama.chat({ model: "llama3.2:latest", messages: [{ role: "user", content: "hi" }] });
    expect(lastSent().model).toBe("llama3.2");
    const res = await ollama.chat({ model: "assist", messages: [{ role: "user", content: "hi" }] });
    expect(lastSent().model).toBe("qwen3:8b");
    expect(res.model).toBe("assist");
  });

  test("generate, streamed and not: system and prompt become messages; thinking on generate", async () => {
    const stream = await ollama.generate({ model: "qwen3:8b", system: "Be brief.", prompt: "Why is the sky blue?", stream: true });
    let text = "";
    for await (const part of stream) text += part.response;
    expect(text).toBe("Hello from the fake upstream.");
    expect(lastSent().messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Why is the sky blue?" },
    ]);
    upstream.script.push({ content: "Rayleigh.", reasoning: "Scattering." });
    const res = await ollama.generate({ model: "qwen3:8b", prompt: "Why?", stream: false, options: { num_predict: -1 } });
    expect(res).toMatchObject({ response: "Rayleigh.", thinking: "Scattering.", done: true, done_reason: "stop" });
    expect(lastSent().max_tokens).toBeUndefined();
  });

  test("an empty prompt or no messages loads the model without calling the upstream", async () => {
    const before = upstream.chatRequests.length;
    expect(await ollama.generate({ model: "qwen3:8b", prompt: "" })).toMatchObject({ done: true, done_reason: "load", response: "" });
    expect((await post("/api/chat", { model: "qwen3:8b", messages: [], keep_alive: 0 }).then((r) => r.json())) as object).toMatchObject({ done: true, done_reason: "unload", message: { role: "assistant", content: "" } });
    expect(upstream.chatRequests.length).toBe(before);
    expect((await post("/api/chat", { model: "nope", messages: [] })).status).toBe(404);
  });

  test("embed and legacy embeddings", async () => {
    const res = await ollama.embed({ model: "qwen3:8b", input: ["a", "b"] });
    expect(res.embeddings).toEqual([[0.5, -0.25, 0], [0.5, -0.25, 1]]);
    expect(res.prompt_eval_count).toBe(2);
    expect((await ollama.embed({ model: "qwen3:8b", input: "a" })).embeddings).toEqual([[0.5, -0.25, 0]]);
    expect((await ollama.embeddings({ model: "qwen3:8b", prompt: "a" })).embedding).toEqual([0.5, -0.25, 0]);
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/embeddings", upstream_model: "qwen3:8b", status: 200 });
  });

  test("pull answers success for served models, streamed and not, and a clear error otherwise", async () => {
    expect((await ollama.pull({ model: "qwen3:8b", stream: false })).status).toBe("success");
    const statuses = [];
    for await (const p of await ollama.pull({ model: "llama3.2:latest", stream: true })) statuses.push(p.status);
    expect(statuses.at(-1)).toBe("success");
    const err = await ollama.pull({ model: "mistral:7b", stream: false }).then(() => undefined, (e) => e);
    expect(err.status_code).toBe(404);
    expect(err.error).toContain("not served by this proxy");
  });

  test("tool calls round trip: arguments objects out, ids made and matched for tool results without ids", async () => {
    upstream.script.push({ toolCalls: [{ name: "HassTurnOn", arguments: { name: "kitchen light" } }, { name: "HassTurnOn", arguments: { name: "hall light" } }] });
    const first = await ollama.chat({ model: "qwen3:8b", stream: true, tools, messages: [{ role: "user", content: "kitchen and hall lights on" }] });
    const calls = [];
    for await (const part of first) calls.push(...(part.message.tool_calls ?? []));
    expect(calls).toEqual([
      { function: { name: "HassTurnOn", arguments: { name: "kitchen light" } } },
      { function: { name: "HassTurnOn", arguments: { name: "hall light" } } },
    ]);
    expect(lastSent().tools).toEqual(tools);

    upstream.script.push({ content: "Both lights are on." });
    const second = await ollama.chat({
      model: "qwen3:8b",
      stream: false,
      tools,
      messages: [
        { role: "user", content: "kitchen and hall lights on" },
        { role: "assistant", content: "", tool_calls: calls },
        { role: "tool", content: '{"success": true, "light": "kitchen"}' },
        { role: "tool", content: '{"success": true, "light": "hall"}' },
      ],
    });
    expect(second.message.content).toBe("Both lights are on.");
    const sent = lastSent().messages;
    expect(sent[1].content).toBeNull();
    expect(sent[1].tool_calls.map((c: any) => [c.type, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ["function", "HassTurnOn", { name: "kitchen light" }],
      ["function", "HassTurnOn", { name: "hall light" }],
    ]);
    const ids = sent[1].tool_calls.map((c: any) => c.id);
    expect(new Set(ids).size).toBe(2);
    expect(sent[2]).toEqual({ role: "tool", tool_call_id: ids[0], content: '{"success": true, "light": "kitchen"}' });
    expect(sent[3]).toEqual({ role: "tool", tool_call_id: ids[1], content: '{"success": true, "light": "hall"}' });
  });

  test("tool results are matched by tool_name when given", async () => {
    await post("/api/chat", {
      model: "qwen3:8b",
      stream: false,
      messages: [
        { role: "assistant", tool_calls: [{ function: { name: "A", arguments: {} } }, { function: { name: "B", arguments: {} } }] },
        { role: "tool", tool_name: "B", content: "b" },
        { role: "tool", content: "a" },
      ],
    });
    const [assistant, b, a] = lastSent().messages;
    expect(b.tool_call_id).toBe(assistant.tool_calls[1].id);
    expect(a.tool_call_id).toBe(assistant.tool_calls[0].id);
  });

  test("images become image_url parts; a JSON Schema format becomes response_format json_schema", async () => {
    const schema = { type: "object", properties: { age: { type: "integer" } }, required: ["age"] };
    await ollama.chat({ model: "qwen3:8b", messages: [{ role: "user", content: "what is this", images: ["iVBORw0KGgoAAAA"] }], format: schema });
    const body = lastSent();
    expect(body.messages[0].content).toEqual([
      { type: "text", text: "what is this" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgoAAAA" } },
    ]);
    expect(body.response_format).toEqual({ type: "json_schema", json_schema: { name: "response", schema } });
  });
});

describe("Ollama front: errors in Ollama's shape", () => {
  test("malformed JSON, wrong types, unknown model: 4xx with {error: string}", async () => {
    const cases: [unknown, number, string][] = [
      ["{not json", 400, "JSON"],
      [{ model: "qwen3:8b", messages: "hi" }, 400, "messages"],
      [{ model: "qwen3:8b", messages: [{ content: "no role" }] }, 400, "role"],
      [{ model: "qwen3:8b", messages: [{ role: "user", content: "x" }], options: { temperature: "hot" } }, 400, "temperature"],
      [{ model: "qwen3:8b", messages: [{ role: "user", content: "x" }], stream: "yes" }, 400, "stream"],
      [{ model: "qwen3:8b", messages: [{ role: "user", content: "x" }], format: "xml" }, 400, "format"],
      [{ model: "qwen3:8b", messages: [{ role: "assistant", tool_calls: [{ function: { name: "f", arguments: "{oops" } }] }] }, 400, "arguments"],
      [{ model: "no-such-model", messages: [{ role: "user", content: "x" }] }, 404, "no-such-model"],
    ];
    for (const [body, status, mention] of cases) {
      const res = await post("/api/chat", body);
      expect(res.status).toBe(status);
      const json = (await res.json()) as { error: unknown };
      expect(json.error).toBeTypeOf("string");
      expect(json.error as string).toContain(mention);
    }
    expect((await post("/api/generate", { model: "qwen3:8b", prompt: 5 })).status).toBe(400);
    expect((await post("/api/embed", { model: "qwen3:8b" })).status).toBe(400);
    const unknownPath = await post("/api/create", {});
    expect(unknownPath.status).toBe(404);
    expect(((await unknownPath.json()) as { error: unknown }).error).toBeTypeOf("string");
  });

  test("the ollama client raises ResponseError with the status for an unknown model", async () => {
    const err = await ollama.chat({ model: "nope", messages: [{ role: "user", content: "x" }] }).then(() => undefined, (e) => e);
    expect(err.status_code).toBe(404);
  });

  test("an upstream error status is passed on with an Ollama error body", async () => {
    upstream.script.push({ status: 503, body: { error: { message: "model is overloaded", type: "server_error" } } });
    const res = await post("/api/chat", { model: "qwen3:8b", messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "model is overloaded" });
    upstream.script.push({ status: 429, headers: { "retry-after": "120" }, body: { error: { message: "rate limited", type: "rate_limit" } } });
    const limited = await post("/api/chat", { model: "qwen3:8b", stream: false, messages: [{ role: "user", content: "x" }] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("120");
    expect(await limited.json()).toEqual({ error: "rate limited" });
  });

  test("an upstream that dies mid-stream ends the NDJSON with an error line, status 200", async () => {
    upstream.script.push({ content: "one two three four five", chunks: 5, dieAfterChunks: 3 });
    const res = await post("/api/chat", { model: "qwen3:8b", messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(200);
    const lines = (await res.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.at(-1)!.error).toBeTypeOf("string");
    expect(lines.slice(0, -1).every((l) => l.message && l.done === false)).toBe(true);
    // The client got 200 and then an error line: the row says 502 (once: 200 with no error).
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/chat", status: 502, upstream_status: 200, error: expect.stringContaining("upstream stream failed") });
    upstream.script.push({ content: "one two three four five", chunks: 5, dieAfterChunks: 3 });
    const stream = await ollama.chat({ model: "qwen3:8b", stream: true, messages: [{ role: "user", content: "x" }] });
    const err = await (async () => {
      for await (const _ of stream);
    })().then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(Error);
  });

  test("a client that leaves mid-stream cancels the upstream request and is logged as 499", async () => {
    upstream.script.push({ content: "a long answer in many pieces", chunks: 20, chunkDelayMs: 30 });
    const before = upstream.disconnects;
    const controller = new AbortController();
    const res = await fetch(`${proxy.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "qwen3:8b", messages: [{ role: "user", content: "x" }] }), signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => {});
    for (let i = 0; i < 100 && upstream.disconnects === before; i++) await Bun.sleep(10);
    expect(upstream.disconnects).toBe(before + 1);
    let row;
    for (let i = 0; i < 100 && row?.status !== 499; i++, await Bun.sleep(10)) row = proxy.rows().at(-1);
    expect(row).toMatchObject({ endpoint: "/api/chat", status: 499 });
  });

  test("tool-call arguments the upstream model malformed are a clear error, not a crash", async () => {
    const completion = {
      id: "x",
      object: "chat.completion",
      created: 0,
      model: "qwen3:8b",
      choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "HassTurnOn", arguments: "{name: kitchen" } }] }, finish_reason: "tool_calls" }],
    };
    upstream.script.push({ body: completion });
    const res = await post("/api/chat", { model: "qwen3:8b", stream: false, messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toContain("HassTurnOn");
    expect(proxy.rows().at(-1)).toMatchObject({ status: 502, upstream_status: 200, error: expect.stringContaining("HassTurnOn") });
    const chunk = (delta: object, finish_reason: string | null = null) => `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta, finish_reason }] })}\n\n`;
    upstream.script.push({
      headers: { "content-type": "text/event-stream" },
      body: chunk({ tool_calls: [{ index: 0, id: "c", type: "function", function: { name: "HassTurnOn", arguments: "[1," } }] }) + chunk({}, "tool_calls") + "data: [DONE]\n\n",
    });
    const streamed = await post("/api/chat", { model: "qwen3:8b", messages: [{ role: "user", content: "x" }] });
    const lines = (await streamed.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.at(-1)!.error).toContain("HassTurnOn");
    expect(proxy.rows().at(-1)).toMatchObject({ status: 502, upstream_status: 200 });
  });

  test("an upstream body that is not JSON, or SSE that is not: the client gets an error and the row says 502 (once: 200)", async () => {
    upstream.script.push({ headers: { "content-type": "application/json" }, body: "<html>oops</html>" });
    const res = await post("/api/chat", { model: "qwen3:8b", stream: false, messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toContain("not JSON");
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/chat", status: 502, upstream_status: 200, error: expect.stringContaining("not JSON") });

    upstream.script.push({ headers: { "content-type": "text/event-stream" }, body: "data: {not json\n\n" });
    const streamed = await post("/api/chat", { model: "qwen3:8b", messages: [{ role: "user", content: "x" }] });
    const lines = (await streamed.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.at(-1)!.error).toContain("malformed stream event");
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/chat", status: 502, upstream_status: 200, error: expect.stringContaining("malformed stream event") });

    // A success keeps both at 200.
    await post("/api/chat", { model: "qwen3:8b", stream: false, messages: [{ role: "user", content: "x" }] });
    expect(proxy.rows().at(-1)).toMatchObject({ status: 200, upstream_status: 200, error: null });
  });
});
