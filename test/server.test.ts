/**
 * The HTTP surface around the routes: PROXY_PATH_PREFIX, CORS, /health, X-Request-Id on errors, the
 * cached model list with an unreachable upstream, and embeddings converted to base64.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { protocolOf } from "../src/server/errors.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const ORIGIN = "http://app.example";
const TTL_MS = 300;

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let client: OpenAI;
let deadUrl: string;

const modelListCalls = () => upstream.requests.filter((r) => r.path === "/v1/models").length;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  deadUrl = `http://127.0.0.1:${probe.port}/v1`;
  probe.stop(true);
  proxy = startProxy(
    {
      server: { cors_origins: [ORIGIN] },
      upstreams: [
        { name: "fake", base_url: upstream.url, max_retries: 0, embeddings_base64: "convert" },
        { name: "dead", base_url: deadUrl, max_retries: 0 },
      ],
      models: { list_cache_ttl_ms: TTL_MS, aliases: { smart: "fake/fake-model" } },
    },
    { PROXY_PATH_PREFIX: "/api/v1/" },
  );
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

describe("PROXY_PATH_PREFIX", () => {
  test("the OpenAI routes answer under the prefix in place of /v1", async () => {
    const prefixed = new OpenAI({ baseURL: `${proxy.url}/api/v1`, apiKey: "client-key", maxRetries: 0 });
    const res = await prefixed.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const ids = (await prefixed.models.list()).data.map((m) => m.id);
    expect(ids).toContain("smart");
    const row = proxy.rows().find((r) => r.request_id === res._request_id) ?? proxy.rows().at(-1)!;
    expect(row.endpoint).toBe("/v1/chat/completions");
  });

  test("pass-through works under the prefix, and /v1 still answers", async () => {
    const res = await fetch(`${proxy.url}/api/v1/audio/speech?voice=x`, { method: "POST", body: "text" });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ echo: { method: "POST", path: "/v1/audio/speech", query: "?voice=x", body: "text" } });
    expect((await fetch(`${proxy.url}/v1/models`)).status).toBe(200);
  });
});

describe("CORS", () => {
  test("preflight from a configured origin is answered", async () => {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  });

  test("responses, errors included, carry the CORS headers for a configured origin only", async () => {
    const ok = await fetch(`${proxy.url}/v1/models`, { headers: { origin: ORIGIN } });
    expect(ok.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const err = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: "{", headers: { origin: ORIGIN } });
    expect(err.status).toBe(400);
    expect(err.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    const other = await fetch(`${proxy.url}/v1/models`, { headers: { origin: "http://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("off by default", async () => {
    const plain = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }] });
    try {
      const res = await fetch(`${plain.url}/v1/models`, { headers: { origin: ORIGIN } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const preflight = await fetch(`${plain.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      // The upstream's own CORS headers do not open the proxy to browsers.
      upstream.script.push({ headers: { "access-control-allow-origin": "*" } });
      const chat = await fetch(`${plain.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }), headers: { origin: ORIGIN } });
      expect(chat.status).toBe(200);
      expect(chat.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      plain.stop();
    }
  });
});

describe("/health", () => {
  test("reports the proxy and each upstream's reachability and last error", async () => {
    const res = await fetch(`${proxy.url}/health`);
    expect(res.status).toBe(200);
    const health = (await res.json()) as any;
    expect(health).toMatchObject({ status: "degraded", version: expect.any(String), uptime_s: expect.any(Number), request_log: { failures: 0 } });
    const [fake, dead] = health.upstreams;
    expect(fake).toMatchObject({ name: "fake", type: "openai", base_url: upstream.url, reachable: true, last_error: null });
    expect(dead).toMatchObject({ name: "dead", reachable: false, last_error: expect.stringContaining("unreachable") });
    expect(dead.last_error_at).toEqual(expect.any(String));
  });
});

describe("/health of an upstream that wants the client's key", () => {
  test("a 401 to the proxy's own model listing is reachable, with the error shown; chat still routes there", async () => {
    const locked = new FakeOpenAIUpstream();
    locked.modelsStatus = 401;
    const other = startProxy({ upstreams: [{ name: "locked", base_url: locked.url, max_retries: 0 }] });
    try {
      const health = (await (await fetch(`${other.url}/health`)).json()) as any;
      expect(health.status).toBe("ok");
      expect(health.upstreams[0]).toMatchObject({ reachable: true, last_error: expect.stringContaining("HTTP 401") });
      const res = await new OpenAI({ baseURL: `${other.url}/v1`, apiKey: "client-own-key", maxRetries: 0 }).chat.completions.create({ model: "any-model", messages: [{ role: "user", content: "hi" }] });
      expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      expect(locked.chatRequests.at(-1)!.headers.authorization).toBe("Bearer client-own-key");
    } finally {
      other.stop();
      locked.stop();
    }
  });
});

describe("X-Request-Id", () => {
  test("is on errors of every origin: proxy, validation and upstream", async () => {
    upstream.script.push({ status: 500 });
    const responses = [
      await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }), headers: { "x-request-id": "mine-1" } }),
      await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: "{}", headers: { "x-request-id": "mine-2" } }),
      await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "dead/x", messages: [{ role: "user", content: "hi" }] }), headers: { "x-request-id": "mine-3" } }),
    ];
    expect(responses.map((r) => r.status)).toEqual([500, 400, 502]);
    expect(responses.map((r) => r.headers.get("x-request-id"))).toEqual(["mine-1", "mine-2", "mine-3"]);
    const rows = proxy.rows();
    expect(rows.find((r) => r.request_id === "mine-1")?.status).toBe(500);
    expect(rows.find((r) => r.request_id === "mine-3")?.status).toBe(502);
  });
});

describe("models list", () => {
  test("an unreachable upstream does not fail the list", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["fake-model", "org/fake-model-2", "smart"]);
  });

  test("is cached for list_cache_ttl_ms, then fetched again", async () => {
    await client.models.list();
    const before = modelListCalls();
    await client.models.list();
    await client.models.retrieve("fake-model");
    expect(modelListCalls()).toBe(before);
    upstream.models = [...upstream.models, "new-model"];
    await Bun.sleep(TTL_MS + 50);
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(modelListCalls()).toBe(before + 1);
    expect(ids).toContain("new-model");
  });
});

describe("models list shared between requests", () => {
  test("a client leaving while the list is fetched fails neither the others nor the upstream's health", async () => {
    const fresh = new FakeOpenAIUpstream();
    fresh.modelsDelayMs = 1_000; // long enough that both clients are waiting on the one fetch even on a loaded machine
    const shared = startProxy({ upstreams: [{ name: "fresh", base_url: fresh.url, max_retries: 0 }] });
    try {
      const body = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
      const leaving = new AbortController();
      const gone = fetch(`${shared.url}/v1/chat/completions`, { method: "POST", body, signal: leaving.signal }).catch((e) => e);
      await Bun.sleep(50);
      const staying = fetch(`${shared.url}/v1/chat/completions`, { method: "POST", body });
      await Bun.sleep(50);
      leaving.abort();
      expect(await gone).toBeInstanceOf(Error);
      expect((await staying).status).toBe(200);
      const health = (await (await fetch(`${shared.url}/health`)).json()) as any;
      expect(health.upstreams[0]).toMatchObject({ reachable: true, last_error: null });
    } finally {
      shared.stop();
      fresh.stop();
    }
  });
});

describe("embeddings", () => {
  const floats = [[0.5, -0.25, 0], [0.5, -0.25, 1]];

  test("encoding_format base64 with embeddings_base64: convert decodes back to the floats", async () => {
    const res = await client.embeddings.create({ model: "fake-model", input: ["a", "b"], encoding_format: "base64" });
    expect(upstream.requests.at(-1)!.body.encoding_format).toBe("float");
    const decoded = res.data.map((d) => {
      const bytes = Buffer.from(d.embedding as unknown as string, "base64");
      return [...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
    });
    expect(decoded).toEqual(floats);
    expect(res.usage.prompt_tokens).toBe(2);
  });

  test("the SDK's default (base64 on the wire, decoded by the SDK) gives the floats", async () => {
    const res = await client.embeddings.create({ model: "fake-model", input: ["a", "b"] });
    expect(res.data.map((d) => d.embedding)).toEqual(floats);
    const row = proxy.rows().at(-1)!;
    expect(row).toMatchObject({ endpoint: "/v1/embeddings", status: 200, upstream: "fake", client_model: "fake-model" });
  });
});

describe("error protocol by path", () => {
  test("Ollama endpoints get Ollama errors; OpenAI routes under an /api prefix keep OpenAI's", () => {
    expect(protocolOf("/api/chat")).toBe("ollama");
    expect(protocolOf("/api/embeddings")).toBe("ollama");
    expect(protocolOf("/api/blobs/sha256:abc")).toBe("ollama");
    expect(protocolOf("/api/chat/completions")).toBe("openai");
    expect(protocolOf("/api/v1/chat/completions")).toBe("openai");
    expect(protocolOf("/v1/models")).toBe("openai");
  });
});
