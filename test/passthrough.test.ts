/**
 * Pass-through of an upstream's own non-/v1 paths (src/server/passthrough.ts): opt-in per upstream,
 * at the root and under /upstreams/<name>/, inbound keys enforced, the upstream's key sent and the
 * client's not, everything else the proxy's 404. Against llama-server's real endpoints: llama-cpp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { allowedBy } from "../src/server/passthrough.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let first: FakeOpenAIUpstream;
let second: FakeOpenAIUpstream;
let proxy: TestProxy;
const KEY = "proxy-key-123";
const auth = { authorization: `Bearer ${KEY}` };

beforeAll(() => {
  first = new FakeOpenAIUpstream();
  second = new FakeOpenAIUpstream();
  proxy = startProxy({
    auth: { keys: [KEY] },
    upstreams: [
      { name: "one", base_url: first.url, api_key: "sk-upstream-one", passthrough: ["/props", "/slots"] },
      { name: "two", base_url: second.url, passthrough: ["/props", "/tokenize", "/health"] },
      { name: "closed", base_url: second.url },
    ],
  });
});
afterAll(() => {
  proxy.stop();
  first.stop();
  second.stop();
});

const last = (u: FakeOpenAIUpstream) => u.requests.at(-1)!;

describe("pass-through of non-/v1 paths", () => {
  test("root: the first upstream that allows the path, with method, query and body; the upstream's key, not the client's", async () => {
    const res = await fetch(`${proxy.url}/props?x=1`, { headers: auth });
    expect(res.status).toBe(201); // the fake's echo status, passed on
    expect(await res.json()).toEqual({ echo: { method: "GET", path: "/props", query: "?x=1", body: "" } });
    expect(last(first).headers.authorization).toBe("Bearer sk-upstream-one");
    const tok = await fetch(`${proxy.url}/tokenize`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: '{"content":"hi"}' });
    expect(await tok.json()).toEqual({ echo: { method: "POST", path: "/tokenize", query: "", body: '{"content":"hi"}' } });
    expect(last(second).headers.authorization).toBeUndefined();
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/tokenize", upstream: "two", status: 201 });
  });

  test("a listed path also covers what is below it", async () => {
    expect((await fetch(`${proxy.url}/slots/0?action=save`, { method: "POST", headers: auth, body: "{}" })).status).toBe(201);
    expect(last(first).path).toBe("/slots/0");
  });

  test("/upstreams/<name>/<path> picks the upstream; the proxy's own /health stays the proxy's", async () => {
    const res = await fetch(`${proxy.url}/upstreams/two/props`, { headers: auth });
    expect(res.status).toBe(201);
    expect(last(second).path).toBe("/props");
    expect((await fetch(`${proxy.url}/upstreams/two/health`, { headers: auth })).status).toBe(201);
    expect(last(second).path).toBe("/health");
    const own = (await (await fetch(`${proxy.url}/health`)).json()) as { upstreams?: unknown[] };
    expect(own.upstreams).toHaveLength(3);
  });

  test("not listed, unknown upstream, or no key: refused before anything is sent", async () => {
    const before = first.requests.length + second.requests.length;
    for (const path of ["/upstreams/closed/props", "/upstreams/one/tokenize", "/upstreams/nope/props", "/tokenizer", "/propsx"]) {
      const res = await fetch(`${proxy.url}${path}`, { headers: auth });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unknown_url");
    }
    expect((await fetch(`${proxy.url}/props`)).status).toBe(401);
    expect((await fetch(`${proxy.url}/upstreams/two/health`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect(first.requests.length + second.requests.length).toBe(before);
  });

  test("matching: the path or below it, never a longer name", () => {
    expect(allowedBy("/slots", "/slots")).toBe(true);
    expect(allowedBy("/slots/", "/slots/1")).toBe(true);
    expect(allowedBy("/slots", "/slotsx")).toBe(false);
    expect(allowedBy("/props", "/")).toBe(false);
    // Nothing that could resolve outside the list on the upstream.
    for (const path of ["/slots/../admin", "/slots/%2e%2e/admin", "/slots/%2E%2e", "/slots/a%2Fb", "/slots/a%5Cb", "/slots/./x", "/slots/%zz"]) expect(allowedBy("/slots", path)).toBe(false);
  });
});
