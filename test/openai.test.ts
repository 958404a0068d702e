import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let client: OpenAI;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
  proxy = startProxy({
    upstreams: [{ name: "fake", base_url: upstream.url, api_key: "sk-upstream-secret", drop_params: ["prompt_cache_key"], rename_params: { max_completion_tokens: "max_tokens" } }],
    models: { aliases: { "my-alias": "fake/fake-model" } },
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "HassTurnOn", description: "Turns on a device", parameters: { type: "object", properties: { name: { type: "string" } } } } },
];

describe("OpenAI front with the openai SDK", () => {
  test("non-streaming completion passes through with usage", async () => {
    const res = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
    const sent = upstream.chatRequests.at(-1)!;
    expect(sent.headers.authorization).toBe("Bearer sk-upstream-secret");
    expect(sent.body.model).toBe("fake-model");
  });

  test("streaming content is reassembled by the SDK and usage is logged", async () => {
    const stream = await client.chat.completions.create({
      model: "fake-model",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello from the fake upstream.");
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    const row = proxy.rows().at(-1)!;
    expect(row.stream).toBe(1 as any);
    expect(row.finish_reason).toBe("stop");
    expect(row.prompt_tokens).toBe(usage!.prompt_tokens);
    expect(row.ttfb_ms).toBeGreaterThan(0);
  });

  test("streamed tool calls are reassembled by the SDK", async () => {
    upstream.script.push({ toolCalls: [{ name: "HassTurnOn", arguments: { name: "kitchen light" } }] });
    const stream = client.chat.completions.stream({ model: "fake-model", messages: [{ role: "user", content: "light on" }], tools, tool_choice: "auto" });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === "function" && call.function.name).toBe("HassTurnOn");
    expect(call.type === "function" && JSON.parse(call.function.arguments)).toEqual({ name: "kitchen light" });
    expect(upstream.chatRequests.at(-1)!.body.tool_choice).toBe("auto");
    expect(upstream.chatRequests.at(-1)!.body.tools).toEqual(tools);
  });

  test("images, response_format, drop and rename params", async () => {
    await client.chat.completions.create({
      model: "fake-model",
      messages: [{ role: "user", content: [{ type: "text", text: "what is this" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }],
      response_format: { type: "json_object" },
      max_completion_tokens: 12,
      prompt_cache_key: "abc",
    } as any);
    const body = upstream.chatRequests.at(-1)!.body;
    expect(body.messages[0].content[1].image_url.url).toBe("data:image/png;base64,AAAA");
    expect(body.response_format).toEqual({ type: "json_object" });
    expect(body.max_tokens).toBe(12);
    expect(body.max_completion_tokens).toBeUndefined();
    expect(body.prompt_cache_key).toBeUndefined();
  });

  test("aliases and upstream/model prefixes route to the upstream model", async () => {
    await client.chat.completions.create({ model: "my-alias", messages: [{ role: "user", content: "hi" }] });
    expect(upstream.chatRequests.at(-1)!.body.model).toBe("fake-model");
    await client.chat.completions.create({ model: "fake/org/fake-model-2", messages: [{ role: "user", content: "hi" }] });
    expect(upstream.chatRequests.at(-1)!.body.model).toBe("org/fake-model-2");
  });

  test("models list merges upstream models and aliases; ids with / resolve", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["fake-model", "my-alias", "org/fake-model-2"]);
    const one = await client.models.retrieve("org/fake-model-2");
    expect(one.owned_by).toBe("fake");
    const missing = await client.models.retrieve("nope").then(() => undefined, (err) => err);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe("model_not_found");
  });

  test("embeddings", async () => {
    const res = await client.embeddings.create({ model: "fake-model", input: ["a", "b"], encoding_format: "float" });
    expect(res.data.map((d) => d.embedding)).toEqual([[0.5, -0.25, 0], [0.5, -0.25, 1]]);
  });

  test("unknown /v1 paths pass through with method, query, body and status", async () => {
    const res = await fetch(`${proxy.url}/v1/audio/speech?x=1`, { method: "PUT", body: "raw-bytes", headers: { authorization: "Bearer client-key" } });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-fake")).toBe("passthrough");
    expect(await res.json()).toEqual({ echo: { method: "PUT", path: "/v1/audio/speech", query: "?x=1", body: "raw-bytes" } });
  });

  test("X-Request-Id: the client's is kept, otherwise one is made", async () => {
    const kept = await fetch(`${proxy.url}/v1/models`, { headers: { "x-request-id": "abc-123" } });
    expect(kept.headers.get("x-request-id")).toBe("abc-123");
    const made = await fetch(`${proxy.url}/health`);
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
