/**
 * A Home Assistant shaped conversation (homeassistant/components/ollama, see
 * ../shared/notes/clients.md) replayed through /api/chat, streaming: system prompt with the exposed
 * entities, the Assist tools, a tool call, a tool result without id, the final answer. Every line is
 * checked the way HA reads it (through ollama-python's ChatResponse model).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const HA_TOOLS = JSON.parse(readFileSync(join(import.meta.dir, "../../shared/datasets/tool-selection/tools/ha-assist.json"), "utf8")) as {
  type: string;
  function: { name: string; description?: string; parameters?: object };
}[];

const entities = Array.from({ length: 40 }, (_, i) => {
  const [domain, area] = [["light", "Kitchen"], ["switch", "Garage"], ["sensor", "Living Room"], ["climate", "Bedroom"]][i % 4]!;
  return `- names: ${area} ${domain} ${i}\n  domain: ${domain}\n  state: '${i % 2 ? "on" : "off"}'\n  areas: ${area}`;
}).join("\n");

const SYSTEM = `You are a voice assistant for Home Assistant.
Answer questions about the world truthfully.
Answer in plain text. Keep it simple and to the point.
When controlling Home Assistant always call the intent tools. Use HassTurnOn to lock and HassTurnOff to unlock a lock.
Current time is 20:15:00. Today's date is 2026-11-21.
An overview of the areas and the devices in this smart home:
${entities}`;

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["qwen3:8b"] });
  proxy = startProxy({ upstreams: [{ name: "llm", base_url: upstream.url, max_retries: 0 }] });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

/**
 * Reads one NDJSON reply as HA's Ollama integration does: each line is JSON; a line with `error`
 * raises; otherwise it must validate as ollama-python's ChatResponse (`message` with a string
 * `role`, optional string `content`/`thinking`, `tool_calls[].function` with a string `name` and
 * an object `arguments`, boolean `done`).
 * @returns the content, the tool calls (as HA turns them into tool inputs) and the final line
 */
async function readLikeHomeAssistant(res: Response) {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/x-ndjson");
  const text = await res.text();
  expect(text.endsWith("\n")).toBe(true);
  let content = "";
  const toolInputs: { tool_name: string; tool_args: Record<string, unknown> }[] = [];
  const lines = text.slice(0, -1).split("\n");
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, any>);
  for (const part of parsed) {
    expect(part.error).toBeUndefined();
    expect(part.model).toBeTypeOf("string");
    expect(Number.isNaN(Date.parse(part.created_at))).toBe(false);
    expect(part.done).toBeTypeOf("boolean");
    const message = part.message;
    expect(message).toBeObject();
    expect(message.role).toBeTypeOf("string");
    if (message.content !== undefined) expect(message.content).toBeTypeOf("string");
    if (message.thinking !== undefined) expect(message.thinking).toBeTypeOf("string");
    content += message.content ?? "";
    for (const call of message.tool_calls ?? []) {
      expect(call.function.name).toBeTypeOf("string");
      const args = call.function.arguments;
      expect(args !== null && typeof args === "object" && !Array.isArray(args)).toBe(true);
      // HA: {k: _fix_invalid_arguments(v) for k, v in arguments.items()}
      toolInputs.push({ tool_name: call.function.name, tool_args: Object.fromEntries(Object.entries(args)) });
    }
  }
  const done = parsed.at(-1)!;
  expect(done.done).toBe(true);
  expect(parsed.slice(0, -1).every((p) => p.done === false)).toBe(true);
  return { content, toolInputs, done, lines: parsed.length };
}

const chat = (messages: object[]) =>
  fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "qwen3:8b", messages, tools: HA_TOOLS, stream: true, keep_alive: "-1s", options: { num_ctx: 8192 }, think: false }),
  });

test("Home Assistant conversation with 34 Assist tools: tool call, id-less tool result, final answer", async () => {
  expect(HA_TOOLS.length).toBeGreaterThanOrEqual(30);
  const history: object[] = [
    { role: "system", content: SYSTEM },
    { role: "user", content: "Turn on the kitchen light and tell me the garage temperature" },
  ];

  upstream.script.push({
    reasoning: "Two tools are needed.",
    toolCalls: [
      { name: "HassTurnOn", arguments: { name: "Kitchen light 0", domain: ["light"] } },
      { name: "GetLiveContext", arguments: {} },
    ],
  });
  const first = await readLikeHomeAssistant(await chat(history));
  expect(first.toolInputs).toEqual([
    { tool_name: "HassTurnOn", tool_args: { name: "Kitchen light 0", domain: ["light"] } },
    { tool_name: "GetLiveContext", tool_args: {} },
  ]);
  expect(first.done.done_reason).toBe("stop");

  const sentFirst = upstream.chatRequests.at(-1)!.body;
  expect(sentFirst.messages[0]).toEqual({ role: "system", content: SYSTEM });
  const names = new Set(HA_TOOLS.map((t) => t.function.name));
  expect(sentFirst.tools.length).toBeGreaterThan(0);
  for (const tool of sentFirst.tools) expect(names.has(tool.function.name)).toBe(true);
  expect(sentFirst.num_ctx).toBeUndefined();
  expect(sentFirst.keep_alive).toBeUndefined();

  // HA appends the assistant turn (its tool calls, arguments as objects, no ids) and one tool message per call.
  history.push(
    { role: "assistant", content: "", thinking: "Two tools are needed.", tool_calls: first.toolInputs.map((t) => ({ function: { name: t.tool_name, arguments: t.tool_args } })) },
    { role: "tool", content: JSON.stringify({ speech: {}, response_type: "action_done", data: { success: [{ name: "Kitchen light 0", type: "entity" }], failed: [] } }) },
    { role: "tool", content: JSON.stringify({ success: true, result: "Garage sensor 2: 18.5 °C" }) },
  );
  upstream.script.push({ content: "The kitchen light is on, and it is 18.5 °C in the garage.", chunks: 7 });
  const second = await readLikeHomeAssistant(await chat(history));
  expect(second.content).toBe("The kitchen light is on, and it is 18.5 °C in the garage.");
  expect(second.toolInputs).toEqual([]);

  const sent = upstream.chatRequests.at(-1)!.body.messages;
  const assistant = sent[2];
  expect(assistant.role).toBe("assistant");
  expect(assistant.reasoning_content).toBeUndefined();
  const ids = assistant.tool_calls.map((c: { id: string }) => c.id);
  expect(ids.every((id: unknown) => typeof id === "string" && id !== "")).toBe(true);
  expect(sent[3].tool_call_id).toBe(ids[0]);
  expect(sent[4].tool_call_id).toBe(ids[1]);
  expect(sent[3].content).toContain("action_done");

  const rows = proxy.rows().filter((r) => r.endpoint === "/api/chat");
  expect(rows.length).toBe(2);
  expect(rows.map((r) => r.finish_reason)).toEqual(["tool_calls", "stop"]);
});
