/**
 * An unchanged chat request reaches the upstream as the client's own bytes (no second
 * JSON.stringify on the hot path); a changed one (alias, dropped parameter, selected tools) keeps the
 * client's text of every member it did not change, and only the changed members are serialised.
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

  test("a resolved alias or a dropped parameter: the changed member is serialised, the others are the client's text", async () => {
    expect((await send(`{ "model": "nick", "messages": [{"role": "user", "content": "hi"}] }`)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(`{"model":"fake-model","messages":[{"role": "user", "content": "hi"}]}`);
    expect((await send(`{ "model": "fake-model", "prompt_cache_key": "k", "messages": [{"role": "user", "content": "hi"}] }`)).status).toBe(200);
    expect(upstream.chatRequests.at(-1)!.raw).toBe(`{"model":"fake-model","messages":[{"role": "user", "content": "hi"}]}`);
  });

  test("malformed JSON is still a 400 in the OpenAI shape", async () => {
    const res = await send(`{"model": "fake-model", "messages": [`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });
});

describe("request body pass-through with tool selection", () => {
  let selecting: TestProxy;
  beforeAll(() => {
    selecting = startProxy({ selection: { mode: "lexical", cache: "per_request" }, upstreams: [{ name: "fake", base_url: upstream.url }] });
  });
  afterAll(() => selecting.stop());

  const tool = (name: string, description: string) => ({ type: "function", function: { name, description, parameters: { type: "object", properties: { where: { type: "string" } } } } });
  const tools = [
    tool("turn_on_light", "Turn on a light"), tool("turn_off_light", "Turn off a light"), tool("set_temperature", "Set the thermostat temperature"),
    tool("play_music", "Play music on a speaker"), tool("lock_door", "Lock a door"), tool("open_blinds", "Open the blinds"),
    tool("start_timer", "Start a timer"), tool("get_weather", "Get the weather forecast"), tool("add_to_list", "Add an item to the shopping list"),
    tool("vacuum", "Start the robot vacuum"),
  ];
  const messages = `[ {"role": "system", "content": "You control a home."},\n  {"role": "user", "content": "turn on the light in the kitchen"} ]`;
  const body = `{ "model": "fake-model", "messages": ${messages}, "tools": ${JSON.stringify(tools, null, 1)} }`;

  test("selected tools are serialised; the messages reach the upstream as the client's text, also once the tools are cached", async () => {
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${selecting.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(200);
      expect(Number(res.headers.get("x-llm-proxy-tools")?.split("/")[0])).toBeLessThan(tools.length);
      sent.push(upstream.chatRequests.at(-1)!.raw);
    }
    const forwarded = JSON.parse(sent[0]!);
    expect(sent[0]).toBe(`{"model":"fake-model","messages":${messages},"tools":${JSON.stringify(forwarded.tools)}}`);
    expect(forwarded.tools.map((t: any) => t.function.name)).toContain("turn_on_light");
    expect(forwarded.tools).toEqual(tools.filter((t) => forwarded.tools.some((f: any) => f.function.name === t.function.name)));
    // The second and third requests parse the tools once and then take them from the cache: the same bytes go out.
    expect(sent[1]).toBe(sent[0]);
    expect(sent[2]).toBe(sent[0]);
  });
});
