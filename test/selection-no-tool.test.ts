import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { noToolProbes } from "../src/selection/calibration.ts";

const { small_talk: CHAT_PROBES, answerable: ANSWERABLE_PROBES } = noToolProbes();
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

// Requests that need no tool, next to a developer's tool list (108 MCP tools), through the proxy
// with the offline English model: the answerable probes (conf/selection/no-tool-probes.yaml).
const shared = join(import.meta.dir, "../../shared");
const tools = JSON.parse(readFileSync(join(shared, "datasets/tool-selection-general/tools.json"), "utf8")) as OpenAI.ChatCompletionTool[];
const selection = { embedding_model: "universal-sentence-encoder-lite-en", models_dir: join(shared, "models"), deadline_ms: 30_000, cache: "per_request" };

let upstream: FakeOpenAIUpstream;
const proxies: Record<"probes" | "withoutProbes", TestProxy> = {} as never;

beforeAll(async () => {
  upstream = new FakeOpenAIUpstream();
  proxies.probes = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }], selection });
  proxies.withoutProbes = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }], selection: { ...selection, answerable_probes: false } });
  for (const p of Object.values(proxies)) expect(await p.runtime.selector.ready()).toBe(true);
}, 120_000);
afterAll(() => {
  for (const p of Object.values(proxies)) p.stop();
  upstream.stop();
});

/** Sends one user message with the 108 tools; @returns the names of the tools the upstream received */
async function sent(proxy: TestProxy, content: string): Promise<string[]> {
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "none", maxRetries: 0 });
  await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content }], tools });
  return ((upstream.chatRequests.at(-1)!.body.tools as OpenAI.ChatCompletionTool[] | undefined) ?? []).map((t) => (t as OpenAI.ChatCompletionFunctionTool).function.name);
}

describe("requests that need no tool", () => {
  test("the probe file is read: small talk and answerable probes", () => {
    expect(CHAT_PROBES.length).toBeGreaterThan(10);
    expect(ANSWERABLE_PROBES.length).toBeGreaterThan(10);
    // Translation stays out: tool lists have translation tools.
    expect(ANSWERABLE_PROBES.some((p) => /translat|how do you say/i.test(p))).toBe(false);
  });

  test("a brainstorming request without a lexical anchor keeps few tools; without the answerable probes it keeps many", async () => {
    const ask = "give me three ideas for a team offsite";
    const few = await sent(proxies.probes, ask);
    const many = await sent(proxies.withoutProbes, ask);
    // small_talk_keep (2) ranked tools, each with its opposites.
    expect(few.length).toBeLessThanOrEqual(6);
    expect(many.length).toBeGreaterThan(few.length + 5);
  }, 30_000);

  test("a writing request naming a file is anchored: judged as a task, not against the answerable probes", async () => {
    // Without the anchor this one is nearer to "write a haiku about the sea" than to any tool, and keeps 2.
    const names = await sent(proxies.probes, "write a haiku about the sea in notes.txt");
    expect(names).toContain("mcp_filesystem_write_file");
    expect(names.length).toBeGreaterThan(6);
  }, 30_000);
});
