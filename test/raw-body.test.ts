/**
 * An unchanged chat request reaches the upstream as the client's own bytes (no second
 * JSON.stringify on the hot path); a changed one (alias, dropped parameter) is serialised again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
  proxy = startProxy({
    upstreams: [{ name: "fake", base_url: upstream.url, drop_params: ["prompt_cache_key"] }],
    models: { aliases: { nick: "fake/fake-model" } },
  });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const send = (body: string) => fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });

describe("request body pass-through", () => {
  test("an unchanged request is forwarded byte for byte", async () => {
    const body = `{\n  "model": "fake-model",\n  "messages": [ {"role": "user", "content": "h\\u00e9"} ],\n  "temperature": 0.50\n}`;
    const res = await send(body);
    expect(res.status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(body);
  });

  test("a resolved alias or a dropped parameter is serialised again", async () => {
    expect((await send(`{ "model": "nick", "messages": [{"role": "user", "content": "hi"}] }`)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }));
    expect((await send(`{ "model": "fake-model", "prompt_cache_key": "k", "messages": [{"role": "user", "content": "hi"}] }`)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "hi" }] }));
  });

  test("malformed JSON is still a 400 in the OpenAI shape", async () => {
    const res = await send(`{"model": "fake-model", "messages": [`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });
});
