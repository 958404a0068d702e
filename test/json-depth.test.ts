/**
 * Deeply nested JSON bodies get a fast 400 in the client's protocol (OpenAI `{error:{...}}`, Ollama
 * `{error}`) from the depth limit (`server.json_depth_limit`), checked before anything walks the
 * body; nesting up to the limit is served. Once: 30,000-deep content on /api/chat took 2.6 GB and
 * answered 500, and `[` x 100,000 on /v1/chat/completions overflowed the stack in validation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  proxy = startProxy({ selection: { mode: "lexical" }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const post = async (path: string, body: string) => {
  const res = await fetch(`${proxy.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, json: (await res.json()) as any };
};
const nested = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const user = (content: string) => `{"model":"fake-model","messages":[{"role":"user","content":${content}}]}`;

describe("JSON nesting limit", () => {
  test("OpenAI front: a body of 100,000 nested arrays is a 400 json_too_deep in the OpenAI shape", async () => {
    const res = await post("/v1/chat/completions", nested(100_000, ""));
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { message: expect.stringContaining("64 levels"), type: "invalid_request_error", param: null, code: "json_too_deep" } });
  });

  test("Ollama front: content nested 30,000 deep is a 400 in Ollama's shape", async () => {
    const res = await post("/api/chat", user(nested(30_000)));
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.stringContaining("64 levels") });
  });

  test("every JSON route has the limit; brackets inside strings do not count", async () => {
    for (const path of ["/v1/embeddings", "/admin/tools/rank", "/api/generate", "/api/embed", "/api/embeddings", "/api/show", "/api/pull"]) {
      const res = await post(path, `{"model":"fake-model","x":${nested(65)}}`);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
    }
    const res = await post("/v1/chat/completions", user(JSON.stringify("[".repeat(10_000))));
    expect(res.status).toBe(200);
  });

  test("nesting up to the limit is served: tool parameters 60 levels deep reach the upstream", async () => {
    let schema: object = { type: "string" };
    for (let i = 0; i < 29; i++) schema = { type: "object", properties: { x: schema } };
    const body = { model: "fake-model", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: { name: "deep", parameters: schema } }] };
    const before = upstream.chatRequests.length;
    const res = await post("/v1/chat/completions", JSON.stringify(body));
    expect(res.status).toBe(200);
    expect(upstream.chatRequests.length).toBe(before + 1);
  });
});
