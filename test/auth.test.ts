/**
 * Inbound API keys (plain and SHA-256 hashed, Bearer or x-api-key), and the separation of secrets:
 * the client's key is never forwarded upstream when the proxy checks keys itself, and the upstream's
 * api_key never reaches clients or the request log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import OpenAI from "openai";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";
import { rawRequest } from "./fakes/raw-http.ts";

const PLAIN_KEY = "sk-proxy-plain-key";
const HASHED_KEY = "sk-proxy-hashed-key";
const UPSTREAM_KEY = "sk-upstream-very-secret";
const HEADER_AUTH = "Bearer sk-upstream-header-secret";

let keyed: FakeOpenAIUpstream;
let open: FakeOpenAIUpstream;
let headered: FakeOpenAIUpstream;
let proxy: TestProxy;

const client = (apiKey: string) => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey, maxRetries: 0 });
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hi" }];

beforeAll(() => {
  keyed = new FakeOpenAIUpstream({ models: ["keyed-model"] });
  open = new FakeOpenAIUpstream({ models: ["open-model"] });
  headered = new FakeOpenAIUpstream({ models: ["headered-model"] });
  proxy = startProxy({
    auth: { keys: [PLAIN_KEY], key_sha256: [createHash("sha256").update(HASHED_KEY).digest("hex").toUpperCase()] },
    log: { bodies: true },
    upstreams: [
      { name: "keyed", base_url: keyed.url, api_key: UPSTREAM_KEY, max_retries: 0 },
      { name: "open", base_url: open.url, max_retries: 0 },
      { name: "headered", base_url: headered.url, headers: { authorization: HEADER_AUTH }, max_retries: 0 },
    ],
  });
});
afterAll(() => {
  proxy.stop();
  keyed.stop();
  open.stop();
  headered.stop();
});

describe("inbound keys", () => {
  test("no key: 401 in the OpenAI shape, with X-Request-Id", async () => {
    const res = await fetch(`${proxy.url}/v1/models`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", param: null, code: "invalid_api_key" } });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("a wrong key: the SDK raises AuthenticationError, nothing reaches the upstream", async () => {
    const before = keyed.requests.length;
    const err = await client("sk-wrong").chat.completions.create({ model: "keyed-model", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.code).toBe("invalid_api_key");
    expect(keyed.requests.length).toBe(before);
  });

  test("a malformed Authorization header is refused", async () => {
    for (const authorization of [PLAIN_KEY, `Basic ${PLAIN_KEY}`, "Bearer ", `Bearer ${PLAIN_KEY}x`]) {
      const res = await fetch(`${proxy.url}/v1/models`, { headers: { authorization } });
      expect(res.status).toBe(401);
    }
  });

  test("/health is open", async () => {
    const res = await fetch(`${proxy.url}/health`);
    expect(res.status).toBe(200);
  });

  test("the plain key works as Bearer and as x-api-key", async () => {
    const res = await client(PLAIN_KEY).chat.completions.create({ model: "keyed-model", messages });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const viaHeader = await fetch(`${proxy.url}/v1/models`, { headers: { "x-api-key": PLAIN_KEY } });
    expect(viaHeader.status).toBe(200);
  });

  test("a key given only as its SHA-256 digest works", async () => {
    const res = await client(HASHED_KEY).chat.completions.create({ model: "keyed-model", messages });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
  });
});

describe("secrets", () => {
  test("the upstream gets its own api_key, never the client's", async () => {
    await client(PLAIN_KEY).chat.completions.create({ model: "keyed-model", messages });
    const sent = keyed.chatRequests.at(-1)!;
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(JSON.stringify(sent)).not.toContain(PLAIN_KEY);
  });

  test("an upstream without api_key gets no Authorization when the proxy checks keys", async () => {
    await client(PLAIN_KEY).chat.completions.create({ model: "open-model", messages });
    const sent = open.chatRequests.at(-1)!;
    expect(sent.headers.authorization).toBeUndefined();
    expect(JSON.stringify(open.requests)).not.toContain(PLAIN_KEY);
  });

  test("an upstream's own authorization header is sent when it has no api_key (it once was dropped)", async () => {
    await client(PLAIN_KEY).chat.completions.create({ model: "headered-model", messages });
    expect(headered.chatRequests.at(-1)!.headers.authorization).toBe(HEADER_AUTH);
  });

  test("pass-through routes forward neither the client's Authorization nor its x-api-key", async () => {
    const res = await fetch(`${proxy.url}/v1/files`, { method: "POST", body: "data", headers: { authorization: `Bearer ${PLAIN_KEY}`, "x-api-key": PLAIN_KEY } });
    expect(res.status).toBe(201);
    const sent = keyed.requests.at(-1)!;
    expect(sent.path).toBe("/v1/files");
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent.headers["x-api-key"]).toBeUndefined();
  });

  test("the upstream api_key reaches neither clients nor the request log", async () => {
    // An upstream that echoes the key it was sent, as some do in their 401 messages.
    const echoed = { error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}`, type: "invalid_request_error", param: null, code: "invalid_api_key" } };
    keyed.script.push({ status: 401, body: echoed });
    const c = client(PLAIN_KEY);
    const err = await c.chat.completions.create({ model: "keyed-model", messages: [{ role: "user", content: `my key is ${PLAIN_KEY}` }] }).catch((e) => e);
    expect(err.status).toBe(401);
    const answers = [
      JSON.stringify(err.error),
      await (await fetch(`${proxy.url}/health`)).text(),
      await (await fetch(`${proxy.url}/v1/models`, { headers: { authorization: `Bearer ${PLAIN_KEY}` } })).text(),
    ];
    const stream = await c.chat.completions.create({ model: "keyed-model", messages, stream: true }).asResponse();
    answers.push(await stream.text(), JSON.stringify([...stream.headers]));
    for (const text of answers) expect(text).not.toContain(UPSTREAM_KEY);
    const rows = JSON.stringify(proxy.rows());
    expect(rows).not.toContain(UPSTREAM_KEY);
    expect(rows).not.toContain(PLAIN_KEY);
    expect(rows).toContain("Incorrect API key provided: ***");
  });

  test("a password in an upstream's base_url is shown nowhere", async () => {
    const withPassword = open.url.replace("http://", "http://user:pw-in-the-url@");
    const other = startProxy({ upstreams: [{ name: "basic", base_url: withPassword, max_retries: 0 }] });
    try {
      const res = await new OpenAI({ baseURL: `${other.url}/v1`, apiKey: "k", maxRetries: 0 }).chat.completions.create({ model: "open-model", messages });
      expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      expect(open.chatRequests.at(-1)!.headers.authorization).toBe(`Basic ${btoa("user:pw-in-the-url")}`);
      const health = await (await fetch(`${other.url}/health`)).text();
      expect(health).toContain("user:***@127.0.0.1");
      expect(health).not.toContain("pw-in-the-url");
    } finally {
      other.stop();
    }
  });
});

describe("request targets: the key check and the router see the same path", () => {
  const port = () => Number(new URL(proxy.url).port);
  const chat = JSON.stringify({ model: "keyed-model", messages: [{ role: "user", content: "hi" }] });
  const json = { "content-type": "application/json" };

  test("a short Host with a route in the query string is refused (it once ran the route)", async () => {
    const before = keyed.requests.length + open.requests.length;
    for (const host of ["x", "ai", "llm", "llm:80", "a:1"]) {
      for (const target of ["/health?/v1/chat/completions", "/health?/api/chat", "/health?/admin/tools/rank", "/health?/v1/files"]) {
        const reply = await rawRequest(port(), "POST", target, host, json, chat);
        // /health is GET only: a POST to it is no route (404), never the route in the query.
        expect({ host, target, status: reply.status }).toEqual({ host, target, status: 404 });
      }
    }
    expect(keyed.requests.length + open.requests.length).toBe(before);
  });

  test("every Host reaches the real routes: /health open, the rest behind the key", async () => {
    for (const host of ["x", "ai", "llm:80", "", "a/b", "a?b", "LOCALHOST:80", "[::1]:9", "very-long-host-name.example:443"]) {
      expect((await rawRequest(port(), "GET", "/health", host)).status).toBe(200);
      expect((await rawRequest(port(), "GET", "/health?/v1/models", host)).status).toBe(200);
      expect((await rawRequest(port(), "GET", "/v1/models", host)).status).toBe(401);
      const keyedModels = await rawRequest(port(), "GET", "/v1/models", host, { authorization: `Bearer ${PLAIN_KEY}` });
      expect(keyedModels.status).toBe(200);
      expect(JSON.parse(keyedModels.body).object).toBe("list");
    }
  });

  test("absolute-form targets, dot segments, encoded and doubled slashes, fragments: never past the key", async () => {
    const targets = [
      "http://127.0.0.1/v1/models",
      "http://evil.example/health/../v1/models",
      "/health/../v1/models",
      "/health/%2e%2e/v1/models",
      "/health/%2E%2E/v1/models",
      "/health%2F..%2Fv1%2Fmodels",
      "/health/..%2Fv1/models",
      "//v1/models",
      "/v1//models",
      "/v1#/../health",
      "/./v1/models",
      "/v1/models/",
      "/he%61lth/../v1/models",
    ];
    for (const target of targets) {
      const reply = await rawRequest(port(), "GET", target, "x");
      // Whatever the target resolves to, it is not /health, so without a key nothing runs.
      expect({ target, status: reply.status }).toEqual({ target, status: reply.status === 404 ? 404 : 401 });
      if (reply.status === 404) expect(JSON.parse(reply.body).error.code).toBe("unknown_url");
    }
    // The same targets with the key: the route they name runs, in the proxy's own words.
    for (const target of ["http://x/v1/models", "/health/../v1/models", "/health/%2e%2e/v1/models", "/./v1/models"]) {
      const reply = await rawRequest(port(), "GET", target, "x", { authorization: `Bearer ${PLAIN_KEY}` });
      expect({ target, status: reply.status }).toEqual({ target, status: 200 });
    }
  });

  test("pass-through paths cannot carry encoded separators past the upstream's base_url", async () => {
    const before = keyed.requests.length + open.requests.length + headered.requests.length;
    for (const target of ["/v1/..%2Fadmin", "/v1/files%2F..%2F..%2Fadmin", "/v1/..%5Cadmin", "/v1/x/%2e%2e%2fsecret"]) {
      const reply = await rawRequest(port(), "GET", target, "localhost", { authorization: `Bearer ${PLAIN_KEY}` });
      expect({ target, status: reply.status }).toEqual({ target, status: 400 });
      expect(JSON.parse(reply.body).error.code).toBe("invalid_url");
    }
    expect(keyed.requests.length + open.requests.length + headered.requests.length).toBe(before);
  });

  test("dot segments that resolve to /health are /health", async () => {
    for (const target of ["/v1/../health", "/v1/%2e%2e/health", "/x/./../health", "/health#/v1/models", "/health#/../v1/models"]) {
      const reply = await rawRequest(port(), "GET", target, "x");
      expect({ target, status: reply.status }).toEqual({ target, status: 200 });
      expect(JSON.parse(reply.body).version).toBeTruthy();
    }
  });
});
