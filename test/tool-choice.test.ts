/**
 * Named tool_choice per upstream `named_tool_choice` (src/upstream/tool-choice.ts), as the upstream
 * receives it. Against the real llama-server the same is checked end to end in llama-cpp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let llamaLike: ReturnType<typeof Bun.serve>;
let llamaRequests: any[];
let proxy: TestProxy;
let client: OpenAI;

const tools: OpenAI.ChatCompletionTool[] = ["alpha", "beta", "gamma"].map((name) => ({ type: "function", function: { name, parameters: { type: "object", properties: {} } } }));
const named = { type: "function", function: { name: "beta" } } as const;
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hi" }];
const completion = { id: "x", object: "chat.completion", created: 0, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] };

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["m"] });
  llamaRequests = [];
  // Answers /props as llama-server does (build_info), and records the chat requests it gets.
  llamaLike = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/props") return Response.json({ build_info: "b10309-82bb485", total_slots: 4, default_generation_settings: { n_ctx: 8192 } });
      if (path === "/v1/models") return Response.json({ object: "list", data: [{ id: "llama-model", object: "model", created: 0, owned_by: "llamacpp" }] });
      llamaRequests.push(await req.json());
      return Response.json(completion);
    },
  });
  proxy = startProxy({
    upstreams: [
      { name: "plain", base_url: upstream.url, max_retries: 0 },
      { name: "forced", base_url: upstream.url, max_retries: 0, named_tool_choice: "emulate" },
      { name: "llama", base_url: `http://127.0.0.1:${llamaLike.port}/v1`, max_retries: 0 },
      { name: "llama-native", base_url: `http://127.0.0.1:${llamaLike.port}/v1`, max_retries: 0, named_tool_choice: "native" },
    ],
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
  llamaLike.stop(true);
});

describe("named tool_choice", () => {
  test("auto: an upstream that is not llama.cpp gets the request as sent", async () => {
    await client.chat.completions.create({ model: "plain/m", messages, tools, tool_choice: named });
    const sent = upstream.chatRequests.at(-1)!.body;
    expect(sent.tool_choice).toEqual(named);
    expect(sent.tools.map((t: any) => t.function.name)).toEqual(["alpha", "beta", "gamma"]);
  });

  test("auto: llama.cpp (build_info in /props) gets only the named tool, required", async () => {
    await client.chat.completions.create({ model: "llama/llama-model", messages, tools, tool_choice: named });
    const sent = llamaRequests.at(-1);
    expect(sent.tool_choice).toBe("required");
    expect(sent.tools).toEqual([tools[1]]);
  });

  test("native: passed on as is, also to llama.cpp", async () => {
    await client.chat.completions.create({ model: "llama-native/llama-model", messages, tools, tool_choice: named });
    expect(llamaRequests.at(-1).tool_choice).toEqual(named);
  });

  test("emulate: rewritten for any upstream; other choices and unknown names are left alone", async () => {
    await client.chat.completions.create({ model: "forced/m", messages, tools, tool_choice: named });
    expect(upstream.chatRequests.at(-1)!.body).toMatchObject({ tool_choice: "required", tools: [tools[1]] });
    for (const choice of ["auto", "required", "none", { type: "function", function: { name: "nope" } }] as const) {
      await client.chat.completions.create({ model: "forced/m", messages, tools, tool_choice: choice as OpenAI.ChatCompletionToolChoiceOption });
      const sent = upstream.chatRequests.at(-1)!.body;
      expect(sent.tool_choice).toEqual(choice);
      expect(sent.tools).toHaveLength(3);
    }
  });
});
