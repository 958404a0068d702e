/**
 * Bad client input gets a 4xx in the OpenAI error shape, never a 500, a crash or a hang: malformed
 * JSON, wrong types (param names the field), missing messages, oversized bodies, unknown models.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let client: OpenAI;
const LIMIT = 64 * 1024;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
  proxy = startProxy({ server: { body_limit_bytes: LIMIT }, upstreams: [{ name: "fake", base_url: upstream.url, models: ["fake-model"] }] });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

/** POSTs `body` (a string is sent as is) to the chat route; returns status, X-Request-Id and the JSON error. */
async function postChat(body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) {
  const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get("x-request-id"), type: res.headers.get("content-type"), json: JSON.parse(text) };
}

const openAIError = (param: string | null = expect.anything()) => ({
  error: { message: expect.any(String), type: "invalid_request_error", param, code: expect.anything() },
});

describe("malformed and mistyped bodies", () => {
  test("malformed JSON: 400 invalid_json", async () => {
    const res = await postChat('{"model": "fake-model", "messages": [');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { message: expect.stringContaining("not valid JSON"), type: "invalid_request_error", param: null, code: "invalid_json" } });
    expect(res.requestId).toBeTruthy();
  });

  test("an empty body: 400", async () => {
    const res = await postChat("");
    expect(res.status).toBe(400);
    expect(res.json.error.type).toBe("invalid_request_error");
  });

  for (const [what, body] of [["null", "null"], ["an array", "[]"], ["a string", '"hi"'], ["a number", "42"]] as const) {
    test(`a JSON body that is ${what}: 400`, async () => {
      const res = await postChat(body);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject(openAIError(null));
    });
  }

  test("missing messages: 400, param messages", async () => {
    const res = await postChat({ model: "fake-model" });
    expect(res.status).toBe(400);
    expect(String(res.json.error.message)).toContain("messages");
    expect(res.json).toMatchObject(openAIError("messages"));
  });

  test("empty messages: 400, param messages", async () => {
    const res = await postChat({ model: "fake-model", messages: [] });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject(openAIError("messages"));
  });

  test("wrong types: param names the field", async () => {
    const cases: [unknown, string][] = [
      [{ model: "fake-model", messages: "hi" }, "messages"],
      [{ model: 42, messages: [{ role: "user", content: "hi" }] }, "model"],
      [{ model: "fake-model", messages: [{ role: "user", content: "hi" }], stream: "yes" }, "stream"],
      [{ model: "fake-model", messages: [{ content: "hi" }] }, "messages[0].role"],
      [{ model: "fake-model", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: {} }] }, "tools[0].function.name"],
    ];
    for (const [body, param] of cases) {
      const res = await postChat(body);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject(openAIError(param));
    }
  });

  test("the SDK raises BadRequestError for mistyped messages", async () => {
    const err = await client.chat.completions.create({ model: "fake-model", messages: [{ content: "hi" }] as any }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe("messages[0].role");
  });

  test("embeddings without input: 400, param input", async () => {
    const res = await fetch(`${proxy.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ model: "fake-model" }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject(openAIError("input"));
  });

  test("a JSON body sent as text/plain is still read", async () => {
    const res = await postChat({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }, { "content-type": "text/plain" });
    expect(res.status).toBe(200);
  });

  test("nothing reached the upstream", () => {
    expect(upstream.chatRequests.filter((r) => r.headers["content-type"] !== "application/json")).toEqual([]);
    expect(upstream.chatRequests.length).toBe(1);
  });
});

describe("body limit", () => {
  const big = () => JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x".repeat(LIMIT) }] });

  test("over the limit with content-length: 413 in the OpenAI shape", async () => {
    const res = await postChat(big());
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { type: "invalid_request_error", code: "request_too_large" } });
    expect(res.requestId).toBeTruthy();
    const far = await postChat("x".repeat(16 * 1024 * 1024));
    expect(far.status).toBe(413);
    expect(far.json.error.code).toBe("request_too_large");
  });

  test("over the limit, chunked without content-length: 413 in the OpenAI shape", async () => {
    const bytes = new TextEncoder().encode(big());
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", code: "request_too_large" } });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("under the limit, chunked: served, with the client's X-Request-Id kept", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "y".repeat(LIMIT / 2) }] }));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body, headers: { "x-request-id": "chunked-1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("chunked-1");
    expect(proxy.rows().at(-1)!.request_id).toBe("chunked-1");
  });

  test("the proxy still serves after oversized bodies", async () => {
    const res = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
  });
});

describe("unknown models and routes", () => {
  test("an unknown model: 404 model_not_found, not sent upstream", async () => {
    const before = upstream.chatRequests.length;
    const err = await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
    expect(upstream.chatRequests.length).toBe(before);
    const row = proxy.rows().at(-1)!;
    expect(row).toMatchObject({ status: 404, client_model: "no-such-model" });
  });

  test("no model and no default_model: 400 param model", async () => {
    const res = await postChat({ messages: [{ role: "user", content: "hi" }] });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject(openAIError("model"));
  });

  test("a model id with a malformed escape: 404, not a 500", async () => {
    const res = await fetch(`${proxy.url}/v1/models/%E0%A4%A`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "model_not_found" } });
  });

  test("an unknown route outside /v1: 404 in the OpenAI shape", async () => {
    const res = await fetch(`${proxy.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", code: "unknown_url" } });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});
