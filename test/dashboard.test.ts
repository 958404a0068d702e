/**
 * The dashboard's server side (docs/dashboard.md): who may open the admin surfaces (admin keys,
 * client keys, loopback-only without admin keys), the request-log API the page reads, the page
 * itself (size, CSP), and GET /metrics read back with a Prometheus text-format parser, MCP servers'
 * state from the real reference server included.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { KeyCheck } from "../src/server/auth.ts";
import { pageSize } from "../src/ui/page.ts";
import { stringify } from "yaml";
import { everythingStdio } from "./fakes/mcp-everything.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const CLIENT_KEY = "sk-client-key-1";
const ADMIN_KEY = "sk-admin-key-1";
const HASHED_ADMIN_KEY = "sk-admin-key-hashed";

/** A request with 12 tools, one of which matches the user's words. */
const TOOLS = Array.from({ length: 12 }, (_, i) => ({
  type: "function" as const,
  function: { name: i === 3 ? "light_turn_on" : `unrelated_${i}`, description: i === 3 ? "Turn on a light" : `Does unrelated thing number ${i}`, parameters: { type: "object", properties: {} } },
}));
const CHAT = { model: "fake-model", messages: [{ role: "user" as const, content: "turn on the kitchen light" }], tools: TOOLS };

/** Every admin surface, with a request that succeeds given the right key. */
const SURFACES: { method: string; path: string; body?: unknown }[] = [
  { method: "GET", path: "/admin/requests" },
  { method: "GET", path: "/admin/requests/1" },
  { method: "GET", path: "/admin/facets" },
  { method: "GET", path: "/admin/stats?window=day" },
  { method: "GET", path: "/admin/config" },
  { method: "GET", path: "/admin/mcp" },
  { method: "GET", path: "/admin/compression" },
  { method: "POST", path: "/admin/reload" },
  { method: "POST", path: "/admin/tools/rank", body: CHAT },
  { method: "GET", path: "/metrics" },
];

const call = (proxy: TestProxy, s: (typeof SURFACES)[number], key?: string, base = proxy.url) =>
  fetch(`${base}${s.path}`, {
    method: s.method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(s.body ? { "content-type": "application/json" } : {}) },
    body: s.body ? JSON.stringify(s.body) : undefined,
  });

let upstream: FakeOpenAIUpstream;
beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
});
afterAll(() => upstream.stop());

describe("admin keys configured", () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = startProxy({
      auth: { keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY], admin_key_sha256: [createHash("sha256").update(HASHED_ADMIN_KEY).digest("hex")] },
      upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }],
    });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.chat.completions.create(CHAT);
    proxy.rows();
  });
  afterAll(() => proxy.stop());

  test("every admin surface: 401 without a key or with a wrong one, 403 with a client key, 200 with an admin key (plain or hashed)", async () => {
    for (const s of SURFACES) {
      const none = await call(proxy, s);
      expect([s.path, none.status]).toEqual([s.path, 401]);
      expect(((await none.json()) as any).error.code).toBe("invalid_api_key");
      expect([s.path, (await call(proxy, s, "sk-wrong")).status]).toEqual([s.path, 401]);
      const client = await call(proxy, s, CLIENT_KEY);
      expect([s.path, client.status]).toEqual([s.path, 403]);
      expect(((await client.json()) as any).error).toMatchObject({ type: "permission_error", code: "admin_only" });
      expect([s.path, (await call(proxy, s, ADMIN_KEY)).status]).toEqual([s.path, 200]);
      expect([s.path, (await call(proxy, s, HASHED_ADMIN_KEY)).status]).toEqual([s.path, 200]);
    }
  });

  test("x-api-key works for admin keys as for client keys", async () => {
    expect((await fetch(`${proxy.url}/admin/facets`, { headers: { "x-api-key": ADMIN_KEY } })).status).toBe(200);
    expect((await fetch(`${proxy.url}/admin/facets`, { headers: { "x-api-key": CLIENT_KEY } })).status).toBe(403);
  });

  test("/ui: the page (no data) without a key, so it can ask for one; a key sent to it must be an admin key", async () => {
    expect((await fetch(`${proxy.url}/ui`)).status).toBe(200);
    expect((await fetch(`${proxy.url}/ui`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status).toBe(403);
    expect((await fetch(`${proxy.url}/ui`, { headers: { authorization: "Bearer sk-wrong" } })).status).toBe(401);
    expect((await fetch(`${proxy.url}/ui`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
  });

  test("client routes: client keys as before, an admin key opens them too; /health stays open", async () => {
    expect((await fetch(`${proxy.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status).toBe(200);
    expect((await fetch(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
    expect((await fetch(`${proxy.url}/health`)).status).toBe(200);
  });

  test("the effective config masks the admin and client keys", async () => {
    const res = await fetch(`${proxy.url}/admin/config`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const text = await res.text();
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(CLIENT_KEY);
    expect(JSON.parse(text).config.auth.admin_keys).toEqual(["***"]);
  });

  test("a refusal comes in the OpenAI error shape", async () => {
    const res = await fetch(`${proxy.url}/admin/requests`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    expect(await res.json()).toEqual({ error: { message: expect.stringContaining("admin"), type: "permission_error", param: null, code: "admin_only" } });
  });
});

test("with admin keys only, a client's own key is forwarded to an upstream without api_key, an admin key never", async () => {
  const proxy = startProxy({ auth: { admin_keys: [ADMIN_KEY] }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
  try {
    const send = (key: string) => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: "fake-model", messages: CHAT.messages });
    await send("sk-users-upstream-key");
    expect(upstream.requests.at(-1)!.headers.authorization).toBe("Bearer sk-users-upstream-key");
    await send(ADMIN_KEY);
    expect(upstream.requests.at(-1)!.headers.authorization).toBeUndefined();
  } finally {
    proxy.stop();
  }
});

describe("no admin keys: loopback clients only", () => {
  test("the rule itself, for any address", () => {
    const keys = new KeyCheck({ keys: [], key_sha256: [], admin_keys: [], admin_key_sha256: [] });
    const headers = new Headers();
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) expect(keys.admitAdmin("/admin/config", headers, address).ok).toBe(true);
    for (const address of ["192.0.2.7", "10.0.0.1", "::ffff:192.0.2.7", "fe80::1", undefined]) {
      expect(keys.admitAdmin("/metrics", headers, address)).toMatchObject({ ok: false, status: 403 });
    }
    // A reverse proxy on the same host connects from loopback: what it forwards is not local.
    for (const h of ["x-forwarded-for", "forwarded", "x-real-ip"]) {
      expect(keys.admitAdmin("/admin/config", new Headers({ [h]: "192.0.2.7" }), "127.0.0.1")).toMatchObject({ ok: false, status: 403 });
    }
    // With client keys and no admin keys, a loopback client needs a client key, as before admin keys existed.
    const clientKeyed = new KeyCheck({ keys: [CLIENT_KEY], key_sha256: [], admin_keys: [], admin_key_sha256: [] });
    expect(clientKeyed.admitAdmin("/admin/config", headers, "127.0.0.1")).toMatchObject({ ok: false, status: 401 });
    expect(clientKeyed.admitAdmin("/admin/config", new Headers({ authorization: `Bearer ${CLIENT_KEY}` }), "127.0.0.1").ok).toBe(true);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;

  test.skipIf(!external)("over HTTP: a non-loopback address gets 403 on every admin surface, loopback gets through, client routes answer both", async () => {
    const proxy = startProxy({ server: { host: "0.0.0.0" }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
    try {
      const port = new URL(proxy.url).port;
      const remote = `http://${external}:${port}`;
      for (const s of [...SURFACES.filter((x) => x.path !== "/admin/requests/1"), { method: "GET", path: "/ui" }]) {
        const res = await call(proxy, s, undefined, remote);
        expect([s.path, res.status]).toEqual([s.path, 403]);
        expect(((await res.json()) as any).error.message).toContain("auth.admin_keys");
        expect([s.path, (await call(proxy, s)).status]).toEqual([s.path, 200]);
      }
      expect((await fetch(`${remote}/v1/models`)).status).toBe(200);
    } finally {
      proxy.stop();
    }
  });
});

describe("request-log API and metrics", () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    // Per request: a stable tool set would take this small list whole (it fits the set's cap), and the detail shows a selection.
    proxy = startProxy({ log: { bodies: true }, selection: { cache: "per_request" }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
    await client.chat.completions.create(CHAT);
    await client.chat.completions.create({ ...CHAT, stream: true }).then(async (s) => {
      for await (const _ of s);
    });
    await client.chat.completions.create({ model: "no-such-model", messages: CHAT.messages }).catch(() => undefined);
    proxy.rows();
  });
  afterAll(() => proxy.stop());

  const get = async (path: string) => {
    const res = await fetch(`${proxy.url}${path}`);
    return { status: res.status, body: (await res.json()) as any };
  };

  test("the list: newest first, light columns, filters by status, model and endpoint, and `after` for polling", async () => {
    const all = (await get("/admin/requests")).body.data;
    expect(all.map((r: any) => r.status)).toEqual([404, 200, 200]);
    expect(all[1]).toMatchObject({ endpoint: "/v1/chat/completions", client_model: "fake-model", upstream: "fake", tools_received: 12 });
    expect(all[1].tools_kept).toBeGreaterThan(0);
    expect(all[1]).not.toHaveProperty("request_body");
    expect((await get("/admin/requests?status=4xx")).body.data.map((r: any) => r.status)).toEqual([404]);
    expect((await get("/admin/requests?status=error")).body.data).toHaveLength(1);
    expect((await get("/admin/requests?status=200")).body.data).toHaveLength(2);
    expect((await get("/admin/requests?model=fake-model")).body.data).toHaveLength(2);
    expect((await get("/admin/requests?endpoint=%2Fapi%2Fchat")).body.data).toHaveLength(0);
    expect((await get(`/admin/requests?after=${all[1].id}`)).body.data.map((r: any) => r.id)).toEqual([all[0].id]);
    expect((await get("/admin/requests?limit=1")).body.data).toHaveLength(1);
  });

  test("the detail: every column, the selector's decision per tool, the bodies", async () => {
    const [, streamed] = (await get("/admin/requests")).body.data;
    const { body } = await get(`/admin/requests/${streamed.id}`);
    expect(body.stream).toBe(1);
    expect(body.tool_decisions).toHaveLength(12);
    const light = body.tool_decisions.find((d: any) => d.name === "light_turn_on");
    expect(light).toMatchObject({ kept: true, rank: 1 });
    expect(typeof light.fused).toBe("number");
    expect(body.tool_decisions.filter((d: any) => !d.kept).every((d: any) => typeof d.reason === "string" && d.reason.length > 0)).toBe(true);
    expect(body.tools_kept).toEqual(body.tool_decisions.filter((d: any) => d.kept).map((d: any) => d.name));
    expect(body.request_body.tools).toHaveLength(12);
    // Columns the reader does not name come through as they are (later migrations' columns too).
    const columns = await proxy.runtime.requestLog!.reader.columns();
    expect(Object.keys(body).sort()).toEqual([...columns].sort());
  });

  test("a bad or missing row id: 400 or 404 in the OpenAI shape", async () => {
    expect((await get("/admin/requests/999999")).status).toBe(404);
    expect((await get("/admin/requests/999999")).body.error.code).toBe("not_found");
    expect((await get("/admin/requests/abc")).status).toBe(400);
    expect((await get("/admin/stats?window=year")).status).toBe(400);
    expect((await get("/admin/requests?limit=-1")).status).toBe(400);
  });

  test("facets and stats: what the filters offer and the overview's figures", async () => {
    expect((await get("/admin/facets")).body).toEqual({ models: ["fake-model", "no-such-model"], upstreams: ["fake"], endpoints: ["/v1/chat/completions"] });
    for (const window of ["hour", "day", "week"]) {
      const { body } = await get(`/admin/stats?window=${window}`);
      expect(body.buckets.reduce((n: number, b: any) => n + b.requests, 0)).toBe(3);
      expect(body.buckets.reduce((n: number, b: any) => n + b.errors, 0)).toBe(1);
      const fake = body.models.find((m: any) => m.model === "fake-model");
      expect(fake.requests).toBe(2);
      expect(fake.tool_tokens_saved).toBeGreaterThan(0);
      expect(fake.prompt_tokens).toBeGreaterThan(0);
      expect(fake.latency_p95).toBeGreaterThanOrEqual(fake.latency_p50);
    }
  });

  test("/metrics: Prometheus text format, read back by a parser", async () => {
    const res = await fetch(`${proxy.url}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const families = parsePrometheusTextFormat(text) as { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[] }[];
    const family = (name: string) => families.find((f) => f.name === name)!;
    const requests = family("llm_proxy_requests_total");
    expect(requests.type).toBe("COUNTER");
    expect(requests.metrics.find((m) => m.labels!.model === "fake-model" && m.labels!.status === "200")!.value).toBe("2");
    expect(requests.metrics.find((m) => m.labels!.status === "404")!.value).toBe("1");
    const latency = family("llm_proxy_request_duration_seconds");
    expect(latency.type).toBe("HISTOGRAM");
    // This parser folds a histogram's label sets into one (its flattenMetrics): check the shape, and the count in the text.
    expect(Object.keys(latency.metrics[0]!.buckets!)).toContain("+Inf");
    expect(text).toMatch(/llm_proxy_request_duration_seconds_count\{endpoint="\/v1\/chat\/completions",model="fake-model",upstream="fake"\} 2/);
    expect(family("llm_proxy_time_to_first_byte_seconds").type).toBe("HISTOGRAM");
    expect(Number(family("llm_proxy_tool_tokens_saved_total").metrics[0]!.value)).toBeGreaterThan(0);
    expect(family("llm_proxy_tokens_total").metrics.map((m) => m.labels!.kind).sort()).toEqual(["completion", "prompt"]);
    expect(family("llm_proxy_tool_selection_total").metrics.reduce((n, m) => n + Number(m.value), 0)).toBe(2);
    expect(family("llm_proxy_upstream_up").metrics).toEqual([{ labels: { upstream: "fake" }, value: "1" }]);
    expect(family("llm_proxy_request_log_queue_depth").metrics[0]!.value).toBe("0");
    expect(family("llm_proxy_request_log_failed_rows").metrics[0]!.value).toBe("0");
  });

  test("/ui: one page, gzipped for clients that accept it, scripts limited by a CSP hash, under 300 KB gzipped", async () => {
    const res = await fetch(`${proxy.url}/ui`, { headers: { "accept-encoding": "gzip" } });
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    expect(html).toContain("<title>llm-proxy dashboard</title>");
    // Self-contained: nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/cdn/);
    expect(pageSize().gzip).toBeLessThan(300 * 1024);
  });

  test("a request log that cannot be read (its file deleted under the proxy): 503 in the OpenAI shape, no crash", async () => {
    const broken = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
    try {
      // One row written first: the writer then holds the file open and will not create it again.
      await fetch(`${broken.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(CHAT) });
      broken.rows();
      rmSync(broken.runtime.requestLog!.path);
      const res = await fetch(`${broken.url}/admin/requests`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).error).toMatchObject({ type: "server_error", code: "request_log_unreadable" });
      expect((await fetch(`${broken.url}/health`)).status).toBe(200);
    } finally {
      broken.stop();
    }
  });

  test("with log.requests off, the request routes say so; /metrics still counts", async () => {
    const off = startProxy({ log: { requests: false }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
    try {
      const res = await fetch(`${off.url}/admin/requests`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as any).error.code).toBe("request_log_off");
      await fetch(`${off.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(CHAT) });
      expect(await (await fetch(`${off.url}/metrics`)).text()).toMatch(/llm_proxy_requests_total\{[^}]*status="200"\} 1/);
    } finally {
      off.stop();
    }
  });
});

test("/metrics: an MCP server's up gauge follows its state (the reference server up, a missing command down)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-dashboard-mcp-"));
  const serversFile = join(dir, "servers.yaml");
  writeFileSync(serversFile, stringify({ servers: { everything: everythingStdio(), dead: { command: "/nonexistent/server" } } }));
  const proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }], mcp_config: serversFile });
  try {
    await proxy.runtime.mcp.ready(["everything", "dead"]);
    const families = parsePrometheusTextFormat(await (await fetch(`${proxy.url}/metrics`)).text()) as { name: string; metrics: { labels: Record<string, string>; value: string }[] }[];
    const up = families.find((f) => f.name === "llm_proxy_mcp_server_up")!.metrics;
    expect(Object.fromEntries(up.map((m) => [m.labels.server, m.value]))).toEqual({ everything: "1", dead: "0" });
  } finally {
    await proxy.runtime.mcp.close();
    proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
