/**
 * The augment stage fails closed: when preparing an augmented model's request crashes (here a tool
 * source whose list() throws), the client gets a 500 in its protocol and nothing is sent upstream,
 * instead of the request going on unaugmented and being answered as another model.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { stringify } from "yaml";
import type { ToolSource } from "../src/tools/source.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

/** A source that lists its tool until `broken` is set, then throws on every list(). */
class BreakingSource implements ToolSource {
  readonly name = "breaking";
  broken = false;
  list() {
    if (this.broken) throw new Error("tool list unavailable");
    return [{ type: "function" as const, function: { name: "fragile_tool", description: "A tool", parameters: { type: "object", properties: {} } } }];
  }
  async call() {
    return { content: "ok" };
  }
}

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
const source = new BreakingSource();

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  const files = { "models/fragile.yml": stringify({ name: "augmented/fragile", upstream_model: "fake/fake-model", tools: ["fragile_tool"] }) };
  proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], selection: { mode: "off" } }, {}, files, [source]);
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

test("a crash while augmenting is a 500, and the upstream is not called", async () => {
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "k", maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "hi" }];
  await client.chat.completions.create({ model: "augmented/fragile", messages });
  const sent = upstream.requests.length;
  expect(sent).toBeGreaterThan(0);

  source.broken = true;
  const err = (await client.chat.completions.create({ model: "augmented/fragile", messages }).catch((e) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect(err.status).toBe(500);
  expect(err.message).toContain("augment");
  expect(upstream.requests.length).toBe(sent);
});
