/**
 * Upstream faults seen through the proxy with the real openai SDK (maxRetries: 0, so only the proxy
 * retries): rate limits, transient errors, retries running out, timeouts, streams cut or abandoned,
 * unreachable upstreams. Each case also reads back the request-log row it wrote.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { backoffDelay, parseRetryAfter, retryDelay } from "../src/upstream/retry.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let client: OpenAI;
/** A loopback port nothing listens on. */
let closedPort: number;

const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hi" }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastRow = () => proxy.rows().at(-1)!;

/** Resolves when `check` holds, polling every 10 ms; fails after `ms`. */
async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) throw new Error("condition not met in time");
    await sleep(10);
  }
}

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  closedPort = probe.port!;
  probe.stop(true);
  const timing = { max_retries: 2, retry_base_delay_ms: 10, retry_max_delay_ms: 40, rate_limit_wait_ms: 20, max_retry_after_ms: 2000, timeout_ms: 400, idle_timeout_ms: 300 };
  proxy = startProxy({
    upstreams: [
      { name: "fake", base_url: upstream.url, api_key: "sk-upstream-secret", ...timing },
      { name: "dead", base_url: `http://127.0.0.1:${closedPort}/v1`, models: ["dead-model"], ...timing },
      { name: "hurried", base_url: upstream.url, models: ["hurried-model"], ...timing, deadline_ms: 500 },
      { name: "flaky", base_url: upstream.url, models: ["flaky-model"], ...timing, retry_on: [500] },
    ],
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

describe("retries", () => {
  test("429 with Retry-After: 1 is waited for, then the retry succeeds", async () => {
    upstream.script.push({ status: 429, headers: { "retry-after": "1" } });
    const before = upstream.chatRequests.length;
    const started = performance.now();
    const res = await client.chat.completions.create({ model: "fake-model", messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(upstream.chatRequests.length - before).toBe(2);
    const row = lastRow();
    expect(row).toMatchObject({ status: 200, retries: 1, upstream: "fake", upstream_model: "fake-model", error: null });
    expect(row.latency_ms!).toBeGreaterThanOrEqual(900);
  });

  test("Retry-After as an HTTP date is honoured", async () => {
    // HTTP dates have 1 s resolution: 2 s ahead waits between 1 and 2 s.
    upstream.script.push({ status: 503, headers: { "retry-after": new Date(Date.now() + 2000).toUTCString() } });
    const started = performance.now();
    await client.chat.completions.create({ model: "fake-model", messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(lastRow()).toMatchObject({ status: 200, retries: 1 });
  });

  test("503 twice, then success", async () => {
    upstream.script.push({ status: 503 }, { status: 503 });
    const res = await client.chat.completions.create({ model: "fake-model", messages });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const row = lastRow();
    expect(row).toMatchObject({ status: 200, retries: 2 });
    expect(JSON.parse(row.retry_reasons as unknown as string)).toEqual([
      'HTTP 503: {"error":{"message":"fake error 503","type":"server_error","param":null,"code":null}}',
      'HTTP 503: {"error":{"message":"fake error 503","type":"server_error","param":null,"code":null}}',
    ]);
  });

  test("a 500 is not retried by default (an LLM server's 500 is deterministic): one generation, at once", async () => {
    const message = "the model produced output that does not match the expected format";
    upstream.script.push({ status: 500, body: { error: { code: 500, message, type: "server_error" } } });
    const before = upstream.chatRequests.length;
    const err = await client.chat.completions.create({ model: "fake-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.message).toContain(message);
    expect(upstream.chatRequests.length - before).toBe(1);
    const row = lastRow();
    expect(row).toMatchObject({ status: 500, retries: 0, retry_reasons: null });
    // The client is told so too: an SDK left at its default retries does not generate it twice more.
    upstream.script.push({ status: 500, body: { error: { code: 500, message, type: "server_error" } } });
    const retrying = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "client-key" });
    const again = await retrying.chat.completions.create({ model: "fake-model", messages }).catch((e) => e);
    expect(again).toBeInstanceOf(OpenAI.InternalServerError);
    expect(again.headers.get("x-should-retry")).toBe("false");
    expect(upstream.chatRequests.length - before).toBe(2);
  });

  test("retry_on: [500] retries it, and the log says why, with the first bytes of the error", async () => {
    const long = "x".repeat(500);
    upstream.script.push({ status: 500, body: { error: { message: `boom ${long}` } } });
    const res = await client.chat.completions.create({ model: "flaky-model", messages });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const row = lastRow();
    expect(row).toMatchObject({ status: 200, retries: 1, upstream: "flaky" });
    const [reason] = JSON.parse(row.retry_reasons as unknown as string) as string[];
    expect(reason).toStartWith('HTTP 500: {"error":{"message":"boom xxx');
    expect(reason!.length).toBe("HTTP 500: ".length + 200);
    // 503 is not in this upstream's list: passed on at once.
    upstream.script.push({ status: 503 });
    await client.chat.completions.create({ model: "flaky-model", messages }).catch(() => {});
    expect(lastRow()).toMatchObject({ status: 503, retries: 0 });
  });

  test("retries exhausted: the client gets the upstream's status and JSON error body as is", async () => {
    const body = { error: { message: "overloaded, try later", type: "server_error", param: null, code: "overloaded" } };
    upstream.script.push({ status: 503, body }, { status: 503, body }, { status: 503, body });
    const before = upstream.chatRequests.length;
    const err = await client.chat.completions.create({ model: "fake-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.error).toEqual(body.error);
    expect(upstream.chatRequests.length - before).toBe(3);
    const row = lastRow();
    expect(row).toMatchObject({ status: 503, retries: 2 });
    expect(row.error).toContain("overloaded, try later");
  });

  test("a Retry-After above the cap is not waited for: the 429 goes to the client", async () => {
    upstream.script.push({ status: 429, headers: { "retry-after": "3600" } });
    const before = upstream.chatRequests.length;
    const started = performance.now();
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages }) });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3600");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(upstream.chatRequests.length - before).toBe(1);
    expect(lastRow()).toMatchObject({ status: 429, retries: 0 });
  });

  test("a wait that would end after deadline_ms is not made: the 429 goes to the client", async () => {
    upstream.script.push({ status: 429, headers: { "retry-after": "1" } });
    const before = upstream.chatRequests.length;
    const err = await client.chat.completions.create({ model: "hurried-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(upstream.chatRequests.length - before).toBe(1);
    expect(lastRow()).toMatchObject({ status: 429, retries: 0, upstream: "hurried" });
  });

  test("a 400 from the upstream is not retried", async () => {
    const body = { error: { message: "bad temperature", type: "invalid_request_error", param: "temperature", code: null } };
    upstream.script.push({ status: 400, body });
    const before = upstream.chatRequests.length;
    const err = await client.chat.completions.create({ model: "fake-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toEqual(body.error);
    expect(err.param).toBe("temperature");
    expect(upstream.chatRequests.length - before).toBe(1);
    expect(lastRow()).toMatchObject({ status: 400, retries: 0 });
  });

  test("connection refused: 502 in the OpenAI shape after the retries", async () => {
    const err = await client.chat.completions.create({ model: "dead-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: "upstream_error", code: "upstream_unreachable" });
    expect(err.error.message).toContain("dead");
    const row = lastRow();
    expect(row).toMatchObject({ status: 502, retries: 2, upstream: "dead" });
    const reasons = JSON.parse(row.retry_reasons as unknown as string) as string[];
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) expect(reason).toMatch(/ConnectionRefused|ECONNREFUSED|Unable to connect/);
    expect(row.error).toContain("unreachable");
    const health = (await (await fetch(`${proxy.url}/health`)).json()) as any;
    const dead = health.upstreams.find((u: any) => u.name === "dead");
    expect(dead.reachable).toBe(false);
    expect(dead.last_error).toContain("unreachable");
    expect(health.status).toBe("degraded");
  });
});

describe("a connection reset before the response headers", () => {
  test("is a 502 at once, not after timeout_ms (60 s here: the test would time out)", async () => {
    // Reads the request, then resets: some answer partly first, some not at all.
    const behaviours = [
      (socket: import("bun").Socket) => socket.terminate(),
      (socket: import("bun").Socket) => (socket.write("HTTP/1.1 200 OK\r\ncontent-ty"), socket.terminate()),
    ];
    for (const behave of behaviours) {
      const resetting = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: behave } });
      const reset = startProxy({ upstreams: [{ name: "resetting", base_url: `http://127.0.0.1:${resetting.port}/v1`, models: ["m"], max_retries: 0, timeout_ms: 60_000 }] });
      try {
        for (const stream of [false, true]) {
          const res = await fetch(`${reset.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", stream, messages }) });
          expect(res.status).toBe(502);
          expect(((await res.json()) as any).error).toMatchObject({ type: "upstream_error", code: "upstream_unreachable" });
        }
        expect(reset.rows().map((r) => [r.status, r.upstream_status])).toEqual([[502, null], [502, null]]);
      } finally {
        reset.stop();
        resetting.stop(true);
      }
    }
  });
});

describe("timeouts", () => {
  test("a slow upstream hits the timeout: 504 in the OpenAI shape", async () => {
    upstream.script.push({ delayMs: 1000 }, { delayMs: 1000 }, { delayMs: 1000 });
    const err = await client.chat.completions.create({ model: "fake-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(504);
    expect(err.error).toMatchObject({ type: "upstream_error", code: "upstream_timeout" });
    expect(lastRow()).toMatchObject({ status: 504, retries: 2 });
  });

  test("idle timeout between chunks ends the stream with an error event", async () => {
    upstream.script.push({ chunkDelayMs: 1500, chunks: 3 });
    const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true });
    let text = "";
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.error).toMatchObject({ code: "upstream_timeout" });
    const row = lastRow();
    expect(row.stream).toBe(1 as any);
    expect(row.error).toContain("sent nothing for 300 ms");
    // The client got the headers (200) and then a 504 error event: the row says what it got.
    expect(row).toMatchObject({ status: 504, upstream_status: 200 });
  });
});

describe("a JSON reply that stalls", () => {
  test("the idle timeout also bounds a JSON body read whole: 504 in the OpenAI shape", async () => {
    // Declares 64 bytes, sends 19, then goes silent: the proxy reads such a small body whole.
    // A raw socket, because Bun.serve would send a streamed body chunked, without the length.
    const stalling = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{"id":"chatcmpl-1",');
        },
      },
    });
    const stalled = startProxy({ upstreams: [{ name: "stalling", base_url: `http://127.0.0.1:${stalling.port}/v1`, models: ["m"], max_retries: 0, idle_timeout_ms: 200 }] });
    try {
      const res = await fetch(`${stalled.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", messages }) });
      expect(res.status).toBe(504);
      expect(((await res.json()) as any).error).toMatchObject({ type: "upstream_error", code: "upstream_timeout" });
      expect(stalled.rows().at(-1)).toMatchObject({ status: 504, error: expect.stringContaining("sent nothing for 200 ms") });
    } finally {
      stalled.stop();
      stalling.stop(true);
    }
  });
});

describe("streams", () => {
  test("a slow reader is not mistaken for a silent upstream by the idle timeout", async () => {
    // 8 MiB is more than the socket buffers hold, so the proxy stops pulling while the client pauses.
    const content = "x".repeat(8 * 1024 * 1024);
    upstream.script.push({ content, chunks: 64 });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages, stream: true }) });
    const reader = res.body!.getReader();
    await reader.read();
    await sleep(800);
    let text = "";
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text.includes("upstream_timeout")).toBe(false);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(lastRow()).toMatchObject({ status: 200, error: null, finish_reason: "stop" });
  });

  test("the SDK receives exactly the bytes the upstream sent", async () => {
    upstream.script.push({ content: "Grüße, 世界! Ünïcödé split across chunks", chunks: 7 });
    const response = await client.chat.completions
      .create({ model: "fake-model", messages, stream: true, stream_options: { include_usage: true } })
      .asResponse();
    const received = await response.text();
    expect(received).toBe(upstream.streamsSent.at(-1)!);
    expect(received.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  test("upstream dies mid-stream: the SDK raises, the proxy serves the next request", async () => {
    upstream.script.push({ dieAfterChunks: 2 });
    const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true });
    let chunks = 0;
    const err = await (async () => {
      for await (const _ of stream) chunks++;
    })().catch((e) => e);
    expect(chunks).toBe(2);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.error).toMatchObject({ type: "upstream_error", code: "upstream_stream_error" });
    const row = lastRow();
    // Once logged as 200: the client got a 502 error event after the headers.
    expect(row).toMatchObject({ status: 502, upstream_status: 200, stream: 1 as any });
    expect(row.error).toContain("upstream stream failed");

    const next = await client.chat.completions.create({ model: "fake-model", messages });
    expect(next.choices[0]!.message.content).toBe("Hello from the fake upstream.");
  });

  test("a client that aborts mid-stream makes the proxy drop the upstream stream", async () => {
    upstream.script.push({ chunks: 50, chunkDelayMs: 50 });
    const before = upstream.disconnects;
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true }, { signal: controller.signal });
    let chunks = 0;
    await (async () => {
      for await (const _ of stream) if (++chunks === 3) controller.abort();
    })().catch(() => {});
    await eventually(() => upstream.disconnects > before);
    expect(upstream.disconnects).toBe(before + 1);
    await eventually(() => proxy.rows().at(-1)!.status === 499);
    expect(lastRow().error).toBe("client disconnected");
  });

  test("a client that closes after [DONE], before the upstream closes, got the whole reply: logged 200, not 499", async () => {
    upstream.script.push({ chunks: 3, holdAfterDoneMs: 1000 });
    const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("Hello from the fake upstream.");
    await eventually(() => proxy.rows().at(-1)!.finish_reason === "stop");
    expect(lastRow()).toMatchObject({ status: 200, error: null });
  });

  test("a client that leaves during the retry wait cancels the retry", async () => {
    upstream.script.push({ status: 429, headers: { "retry-after": "1" } });
    const before = upstream.chatRequests.length;
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: "fake-model", messages }, { signal: controller.signal }).catch((e) => e);
    await eventually(() => upstream.chatRequests.length > before);
    await sleep(50);
    controller.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await sleep(1300);
    expect(upstream.chatRequests.length - before).toBe(1);
    const row = lastRow();
    expect(row).toMatchObject({ status: 499, retries: 1, error: "client disconnected" });
  });
});

describe("retry policy", () => {
  const timing = { retry_on: [408, 429, 502, 503, 504], retry_base_delay_ms: 100, retry_max_delay_ms: 1000, rate_limit_wait_ms: 2000, max_retry_after_ms: 60_000 };
  const reply = (status: number, retryAfter?: string) => new Response(null, { status, headers: retryAfter ? { "retry-after": retryAfter } : {} });

  test("Retry-After: seconds, HTTP date, past date, garbage", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  test("full jitter stays within [0, min(cap, base * 2^attempt)]", () => {
    expect(backoffDelay(0, 100, 1000, () => 0.999)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 0.999)).toBe(799);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(5, 100, 1000, () => 0)).toBe(0);
  });

  test("which outcomes are retried, and after how long", () => {
    for (const status of [400, 401, 403, 404, 409, 422, 500]) expect(retryDelay(reply(status), 0, timing)).toBeUndefined();
    for (const status of [408, 502, 503, 504]) expect(retryDelay(reply(status), 0, timing)).toBeLessThanOrEqual(100);
    expect(retryDelay(undefined, 0, timing)).toBeLessThanOrEqual(100);
    expect(retryDelay(reply(429), 0, timing)).toBe(2000);
    expect(retryDelay(reply(429, "3"), 0, timing)).toBe(3000);
    expect(retryDelay(reply(503, "3"), 0, timing)).toBe(3000);
    expect(retryDelay(reply(429, "3600"), 0, timing)).toBeUndefined();
  });
});
