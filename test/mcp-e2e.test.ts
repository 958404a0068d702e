/**
 * MCP tools through the tool loop, end to end: the real reference server over stdio, SSE and
 * Streamable HTTP (on free ports the OS picked) behind augmented models, a fake LLM upstream that calls
 * their tools by the names the proxy gave them, and the real `openai` client getting the final
 * answer. Also: per-model whitelist/blacklist, a bad call corrected by the model, a template calling
 * an MCP tool, progress as status chunks (and as thinking on the Ollama front), a first request waiting for the servers' first connect
 * but not for a server that never answers, and an unknown server name refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { stringify } from "yaml";
import { everythingStdio, freePort, startEverythingHttp, stopAllEverything } from "./fakes/mcp-everything.ts";
import { FakeOpenAIUpstream, type FakeReply } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";
import { readChat } from "./fakes/ollama-chat.ts";

const HTTP_PORT = freePort();
const SSE_PORT = freePort();

const model = (name: string, extra: Record<string, unknown>) => stringify({ name, upstream_model: "fake/fake-model", include_global_skills: false, ...extra });

describe("MCP tools in the tool loop", () => {
  let upstream: FakeOpenAIUpstream;
  let proxy: TestProxy;
  let client: OpenAI;

  beforeAll(async () => {
    await startEverythingHttp("streamableHttp", HTTP_PORT);
    await startEverythingHttp("sse", SSE_PORT);
    upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
    proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], selection: { mode: "off" } }, {}, {
      "mcp/servers.yaml": stringify({
        servers: {
          local: everythingStdio(),
          remote: { url: `http://127.0.0.1:${HTTP_PORT}/mcp` },
          legacy: { type: "sse", url: `http://127.0.0.1:${SSE_PORT}/sse` },
        },
      }),
      "models/mcp.yml": model("augmented/mcp", {
        mcp_servers: { local: { whitelist: ["echo", "get-*"], blacklist: ["get-env", "get-tiny-image", "get-resource-*", "get-annotated-message"] }, remote: { whitelist: ["get-sum"] }, legacy: { whitelist: ["echo"] } },
        tool_timeout_ms: 10_000,
      }),
      "models/template.yml": model("augmented/template", { system_prompt: "Known sum: {{mcp_local_get-sum(a=40, b=2)}}" }),
      "models/progress.yml": model("augmented/progress", { mcp_servers: { local: { whitelist: ["trigger-long-running-operation"] } }, tool_timeout_ms: 20_000 }),
    });
    client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "k", maxRetries: 0 });
  });

  afterAll(async () => {
    await proxy.runtime.mcp.close();
    proxy.stop();
    upstream.stop();
    await stopAllEverything();
  });

  const play = (...replies: FakeReply[]) => {
    upstream.script.length = 0;
    upstream.script.push(...replies);
    upstream.requests.length = 0;
  };
  const sent = () => upstream.chatRequests.map((r) => r.body);

  test("one round calling tools on stdio, Streamable HTTP and SSE servers; the openai client gets the final answer", async () => {
    play(
      {
        toolCalls: [
          { name: "mcp_local_echo", arguments: { message: "over stdio" } },
          { name: "mcp_remote_get-sum", arguments: { a: 2, b: 3 } },
          { name: "mcp_legacy_echo", arguments: { message: "over sse" } },
        ],
      },
      { content: "Done: 5." },
    );
    const res = await client.chat.completions.create({ model: "augmented/mcp", messages: [{ role: "user", content: "use the tools" }] });
    expect(res.choices[0]!.message.content).toBe("Done: 5.");

    const [first, second] = sent();
    // Only the tools the model's whitelist/blacklist let through, by their prefixed names.
    expect(first.tools.map((t: { function: { name: string } }) => t.function.name).sort()).toEqual(
      ["mcp_legacy_echo", "mcp_local_echo", "mcp_local_get-structured-content", "mcp_local_get-sum", "mcp_remote_get-sum"].sort(),
    );
    expect(second.messages.slice(-3)).toEqual([
      { role: "tool", tool_call_id: "call_0", content: "Echo: over stdio" },
      { role: "tool", tool_call_id: "call_1", content: "The sum of 2 and 3 is 5." },
      { role: "tool", tool_call_id: "call_2", content: "Echo: over sse" },
    ]);
    const row = proxy.rows().at(-1)!;
    // Run concurrently: logged in the order they finished.
    expect(JSON.parse(row.proxy_tool_calls as unknown as string).map((c: { name: string; ok: boolean }) => [c.name, c.ok]).sort()).toEqual([
      ["mcp_legacy_echo", true],
      ["mcp_local_echo", true],
      ["mcp_remote_get-sum", true],
    ]);
    const admin = (await (await fetch(`${proxy.url}/admin/mcp`)).json()) as { servers: { name: string; calls: number }[] };
    expect(admin.servers.map((s) => [s.name, s.calls])).toEqual([["local", 1], ["remote", 1], ["legacy", 1]]);
  });

  test("a call with bad arguments comes back as an error the model corrects; no round trip to the server", async () => {
    const callsBefore = proxy.runtime.mcp.connection("local")!.status().calls;
    play({ toolCalls: [{ name: "mcp_local_get-sum", arguments: { a: "two", b: 2 } }] }, { toolCalls: [{ name: "mcp_local_get-sum", arguments: { a: 2, b: 2 } }] }, { content: "4" });
    const res = await client.chat.completions.create({ model: "augmented/mcp", messages: [{ role: "user", content: "2+2" }] });
    expect(res.choices[0]!.message.content).toBe("4");
    const [, second, third] = sent();
    const error = JSON.parse(second.messages.at(-1).content);
    expect(error.error).toContain("invalid arguments for mcp_local_get-sum: data/a must be number");
    expect(third.messages.at(-1)).toEqual({ role: "tool", tool_call_id: "call_0", content: "The sum of 2 and 2 is 4." });
    expect(proxy.runtime.mcp.connection("local")!.status().calls).toBe(callsBefore + 1);
  });

  test("a tool the model's filter leaves out is not the proxy's: it goes back to the client as the model made it", async () => {
    play({ toolCalls: [{ name: "mcp_local_get-env", arguments: {} }] });
    const res = await client.chat.completions.create({ model: "augmented/mcp", messages: [{ role: "user", content: "env?" }] });
    expect((res.choices[0]!.message.tool_calls?.[0] as { function: { name: string } }).function.name).toBe("mcp_local_get-env");
    expect(res.choices[0]!.finish_reason).toBe("tool_calls");
  });

  test("a template in the system prompt calls an MCP tool", async () => {
    play({ content: "ok" });
    await client.chat.completions.create({ model: "augmented/template", messages: [{ role: "user", content: "hi" }] });
    expect(sent()[0].messages[0]).toEqual({ role: "system", content: "Known sum: The sum of 40 and 2 is 42." });
  });

  test("progress of a long MCP call streams as status chunks", async () => {
    play({ toolCalls: [{ name: "mcp_local_trigger-long-running-operation", arguments: { duration: 1, steps: 3 } }] }, { content: "finished" });
    const stream = await client.chat.completions.create({ model: "augmented/progress", messages: [{ role: "user", content: "run it" }], stream: true });
    const progress: string[] = [];
    let content = "";
    for await (const chunk of stream) {
      const status = (chunk as unknown as { proxy_status?: { status: string; progress?: string } }).proxy_status;
      if (status?.progress) progress.push(status.progress);
      content += chunk.choices[0]?.delta.content ?? "";
    }
    expect(content).toBe("finished");
    expect(progress.slice(0, 2)).toEqual(["mcp_local_trigger-long-running-operation (1/3)", "mcp_local_trigger-long-running-operation (2/3)"]);
  });

  test("from an Ollama client (Home Assistant's integration): the same loop, progress as thinking, NDJSON answer", async () => {
    play({ toolCalls: [{ name: "mcp_local_trigger-long-running-operation", arguments: { duration: 0.6, steps: 2 } }] }, { content: "All done." });
    const ollama = new Ollama({ host: proxy.url });
    const parts = await ollama.chat({ model: "augmented/progress", messages: [{ role: "user", content: "run it" }], stream: true });
    const { content, thinking } = await readChat(parts);
    expect(content).toBe("All done.");
    expect(thinking).toContain("mcp_local_trigger-long-running-operation (1/2)");
    expect(sent()[1].messages.at(-1).content).toBe("Long running operation completed. Duration: 0.6 seconds, Steps: 2.");
  });

  test("a model naming a server the MCP file does not have is refused on reload; the running set stays", () => {
    writeFileSync(join(proxy.dir, "models", "typo.yml"), model("augmented/typo", { mcp_servers: ["locl"] }));
    expect(() => proxy.runtime.reload()).toThrow(`${join(proxy.dir, "models", "typo.yml")}: mcp_servers: expected the name of a server in the MCP servers file (local, remote, legacy), found "locl"`);
    expect(proxy.runtime.state.models.get("augmented/mcp")).toBeDefined();
  });
});

describe("the first request after start-up", () => {
  let upstream: FakeOpenAIUpstream;
  let proxy: TestProxy;

  beforeAll(() => {
    upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
    proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], selection: { mode: "off" } }, {}, {
      "mcp/servers.yaml": stringify({ servers: { local: everythingStdio(), silent: { command: "sleep", args: ["60"], connect_timeout_ms: 1500 } } }),
      "models/both.yml": model("augmented/both", { mcp_servers: ["local", "silent"] }),
    });
  });

  afterAll(async () => {
    await proxy.runtime.mcp.close();
    proxy.stop();
    upstream.stop();
  });

  test("waits for the model's servers' first connect (a server that never answers: its connect_timeout_ms), then goes on without the dead one", async () => {
    expect(proxy.runtime.mcp.connection("local")!.state).toBe("connecting");
    upstream.script.push({ content: "hello" });
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "k", maxRetries: 0 });
    const res = await client.chat.completions.create({ model: "augmented/both", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0]!.message.content).toBe("hello");
    const names: string[] = upstream.chatRequests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name);
    expect(names).toContain("mcp_local_echo");
    expect(names.some((n) => n.startsWith("mcp_silent_"))).toBe(false);
    expect(proxy.runtime.mcp.health().silent!.state).toBe("down");
  });
});
