import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ollama, type ChatRequest } from "ollama";
import OpenAI from "openai";
import { FakeOllamaUpstream } from "./fakes/ollama-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOllamaUpstream;
let proxy: TestProxy;
let client: OpenAI;

beforeAll(() => {
  upstream = new FakeOllamaUpstream({ models: ["llama3.2:latest", "qwen3:8b"] });
  proxy = startProxy({ upstreams: [{ name: "home", type: "ollama", base_url: upstream.url, max_retries: 0 }] });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "HassTurnOn", description: "Turns on a device", parameters: { type: "object", properties: { name: { type: "string" } } } } },
  { type: "function", function: { name: "HassTurnOff", description: "Turns off a device", parameters: { type: "object", properties: { name: { type: "string" } } } } },
];

const lastSent = () => upstream.chatRequests.at(-1)!.body;

describe("OpenAI client against a native Ollama upstream", () => {
  test("models come from the upstream's /api/tags; llama3.2 resolves to llama3.2:latest", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["llama3.2:latest", "qwen3:8b"]);
    await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "hi" }] });
    expect(lastSent().model).toBe("llama3.2:latest");
  });

  test("non-streamed: request translated to /api/chat, reply to chat.completion with usage", async () => {
    upstream.script.push({ content: "Hi there.", thinking: "greet back" });
    const res = await client.chat.completions.create({
      model: "qwen3:8b",
      messages: [{ role: "developer", content: "Be brief." }, { role: "user", content: [{ type: "text", text: "hi" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0K" } }] }],
      max_completion_tokens: 50,
      temperature: 0.3,
      stop: "END",
      response_format: { type: "json_object" },
      reasoning_effort: "low",
    });
    expect(res.object).toBe("chat.completion");
    expect(res.choices[0]!.message.content).toBe("Hi there.");
    expect((res.choices[0]!.message as unknown as { reasoning_content: string }).reasoning_content).toBe("greet back");
    expect(res.choices[0]!.finish_reason).toBe("stop");
    expect(res.usage).toEqual({ prompt_tokens: 21, completion_tokens: 7, total_tokens: 28 });
    expect(lastSent()).toEqual({
      model: "qwen3:8b",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi", images: ["iVBORw0K"] },
      ],
      stream: false,
      format: "json",
      options: { temperature: 0.3, num_predict: 50, stop: ["END"] },
      think: "low",
    });
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/v1/chat/completions", upstream: "home", prompt_tokens: 21, completion_tokens: 7, finish_reason: "stop" });
  });

  test("streamed: NDJSON becomes SSE chunks the SDK reassembles, with usage when asked", async () => {
    upstream.script.push({ content: "Streaming from Ollama.", chunks: 3, thinking: "hmm" });
    const stream = await client.chat.completions.create({ model: "qwen3:8b", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    let reasoning = "";
    let usage;
    let finish;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      reasoning += (chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? "";
      finish ??= chunk.choices[0]?.finish_reason ?? undefined;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Streaming from Ollama.");
    expect(reasoning).toBe("hmm");
    expect(finish).toBe("stop");
    expect(usage).toEqual({ prompt_tokens: 21, completion_tokens: 7, total_tokens: 28 });
    expect(lastSent().stream).toBe(true);
    expect(proxy.rows().at(-1)).toMatchObject({ stream: 1, prompt_tokens: 21, finish_reason: "stop" });
  });

  test("tool calls both ways: objects to JSON strings with ids, tool results get tool_name", async () => {
    upstream.script.push({ toolCalls: [{ name: "HassTurnOn", arguments: { name: "kitchen" } }] });
    const runner = client.chat.completions.stream({ model: "qwen3:8b", messages: [{ role: "user", content: "kitchen on" }], tools });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call.type === "function" && call.function.name).toBe("HassTurnOn");
    expect(call.type === "function" && JSON.parse(call.function.arguments)).toEqual({ name: "kitchen" });
    expect(call.id).toBeTruthy();

    upstream.script.push({ toolCalls: [{ name: "HassTurnOff", arguments: { name: "hall" } }] });
    const plain = await client.chat.completions.create({ model: "qwen3:8b", messages: [{ role: "user", content: "hall off" }], tools });
    expect(plain.choices[0]!.finish_reason).toBe("tool_calls");
    expect(plain.choices[0]!.message.content).toBeNull();
    const plainCall = plain.choices[0]!.message.tool_calls![0]!;
    expect(plainCall.type === "function" && JSON.parse(plainCall.function.arguments)).toEqual({ name: "hall" });

    upstream.script.push({ content: "Done." });
    await client.chat.completions.create({
      model: "qwen3:8b",
      tools,
      tool_choice: { type: "function", function: { name: "HassTurnOn" } },
      messages: [
        { role: "user", content: "kitchen on" },
        { role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function", function: { name: "HassTurnOn", arguments: '{"name":"kitchen"}' } }] },
        { role: "tool", tool_call_id: call.id, content: '{"success":true}' },
      ],
    });
    const sent = lastSent();
    expect(sent.messages[1]).toEqual({ role: "assistant", content: "", tool_calls: [{ function: { name: "HassTurnOn", arguments: { name: "kitchen" } } }] });
    expect(sent.messages[2]).toEqual({ role: "tool", content: '{"success":true}', tool_name: "HassTurnOn" });
    expect(sent.tools.map((t: any) => t.function.name)).toEqual(["HassTurnOn"]);
  });

  test("malformed tool-call arguments from the client are a 400, not a crash", async () => {
    const err = await client.chat.completions
      .create({ model: "qwen3:8b", messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{oops" } }] }] })
      .then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("arguments");
  });

  test("upstream errors keep their status in the OpenAI shape; a mid-stream error line becomes an SSE error", async () => {
    upstream.script.push({ error: "model requires more system memory", status: 500 });
    const err = await client.chat.completions.create({ model: "qwen3:8b", messages: [{ role: "user", content: "x" }] }).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.message).toContain("more system memory");

    upstream.script.push({ content: "a b c d", chunks: 4, errorAfterLines: 2, error: "runner crashed" });
    const stream = await client.chat.completions.create({ model: "qwen3:8b", stream: true, messages: [{ role: "user", content: "x" }] });
    const midErr = await (async () => {
      for await (const _ of stream);
    })().then(() => undefined, (e) => e);
    expect(midErr).toBeInstanceOf(OpenAI.APIError);
    expect(midErr.message).toContain("runner crashed");
  });

  test("embeddings through /api/embed, floats and base64", async () => {
    const res = await client.embeddings.create({ model: "qwen3:8b", input: ["a", "b"], encoding_format: "float" });
    expect(res.data.map((d) => d.embedding)).toEqual([[0.1, 0.2, 0], [0.1, 0.2, 1]]);
    expect(res.usage.prompt_tokens).toBe(6);
    const b64 = await client.embeddings.create({ model: "qwen3:8b", input: "a" });
    expect(b64.data[0]!.embedding.length).toBe(3);
  });
});

describe("Ollama client through the proxy to an Ollama upstream (canonical both ways)", () => {
  test("num_ctx, keep_alive, think, format and all options arrive as sent", async () => {
    const ollama = new Ollama({ host: proxy.url });
    const schema = { type: "object", properties: { on: { type: "boolean" } } };
    upstream.script.push({ content: '{"on":true}', thinking: "ok" });
    const request = {
      model: "qwen3:8b",
      stream: false as const,
      keep_alive: "-1s",
      think: true,
      format: schema,
      options: { num_ctx: 8192, num_gpu: 99, mirostat: 2, temperature: 0.1, num_predict: 100, repeat_penalty: 1.2, stop: ["x"] },
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "look", images: ["/9j/AAAA"] },
        { role: "assistant", content: "", thinking: "need a tool", tool_calls: [{ function: { name: "HassTurnOn", arguments: { name: "tv" } } }] },
        { role: "tool", content: "{}" },
      ],
      tools,
    };
    const res = await ollama.chat(request as ChatRequest & { stream: false });
    expect(res.message).toMatchObject({ content: '{"on":true}', thinking: "ok" });
    // Everything arrives as sent; the tool result gains the name of the call it answers.
    expect(lastSent()).toEqual({ ...request, messages: [...request.messages.slice(0, 3), { role: "tool", content: "{}", tool_name: "HassTurnOn" }] });
  });

  test("embed keeps truncate, keep_alive and options for the Ollama upstream", async () => {
    const ollama = new Ollama({ host: proxy.url });
    const res = await ollama.embed({ model: "qwen3:8b", input: ["a", "b"], truncate: false, keep_alive: "10m", options: { num_ctx: 512 } });
    expect(res.embeddings).toEqual([[0.1, 0.2, 0], [0.1, 0.2, 1]]);
    expect(res.prompt_eval_count).toBe(6);
    expect(upstream.requests.at(-1)!.body).toEqual({ model: "qwen3:8b", input: ["a", "b"], truncate: false, keep_alive: "10m", options: { num_ctx: 512 } });
  });

  test("streamed tool calls come back whole; show passes the upstream's own metadata", async () => {
    const ollama = new Ollama({ host: proxy.url });
    upstream.script.push({ toolCalls: [{ name: "HassTurnOff", arguments: { name: "tv" } }] });
    const calls = [];
    for await (const part of await ollama.chat({ model: "qwen3:8b", stream: true, messages: [{ role: "user", content: "tv off" }], tools: tools as any })) {
      calls.push(...(part.message.tool_calls ?? []));
    }
    expect(calls).toEqual([{ function: { name: "HassTurnOff", arguments: { name: "tv" } } }]);
    const info = await ollama.show({ model: "qwen3:8b" });
    expect((info.model_info as unknown as Record<string, unknown>)["llama.context_length"]).toBe(131072);
    expect(info.capabilities).toContain("thinking");
  });
});
