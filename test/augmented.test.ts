/**
 * Augmented models end to end: a fake upstream plays scripted turns (tool calls streamed as argument
 * fragments or whole, several per turn, then an answer) behind the real `openai` and `ollama`
 * clients, through both fronts. Tools: the built-ins and test/fakes/tool-source.ts.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { stringify } from "yaml";
import { FakeOpenAIUpstream, type FakeReply } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";
import { FakeToolSource } from "./fakes/tool-source.ts";
import { readChat } from "./fakes/ollama-chat.ts";
import { calculate } from "../src/tools/builtins/calculator.ts";

// Every test here is a few HTTP round trips on loopback; 5 s (bun's default) was exceeded at load 12 on 2 cores.
setDefaultTimeout(30_000);

/** Tool timeout of every model but augmented/timeout: a tool that finishes must not time out on a stalled machine. */
const TOOL_TIMEOUT_MS = 10_000;
/** augmented/timeout's tool timeout: its slow_tool (60 s) must time out, its other tools (no waits) must finish first. */
const SHORT_TOOL_TIMEOUT_MS = 2_000;

const model = (name: string, extra: Record<string, unknown> = {}) =>
  stringify({
    name,
    upstream_model: "fake/fake-model",
    description: `Test model ${name}`,
    tools: ["get_current_time", "calculator", "echo_tool", "slow_tool", "failing_tool", "garbage_tool"],
    max_tool_rounds: 3,
    tool_timeout_ms: TOOL_TIMEOUT_MS,
    include_global_skills: false,
    ...extra,
  });

const FILES: Record<string, string> = {
  "models/test.yml": model("augmented/test", {
    system_prompt: 'You are a test assistant. Now: {{get_current_time(timezone="UTC", format="iso")}}. Broken: {{no_such_tool(x=1)}}.',
    owned_by: "tests",
    params: { temperature: 0.25 },
  }),
  "models/thinking.yml": model("augmented/thinking", { status: "thinking" }),
  "models/off.yml": model("augmented/off", { status: "off" }),
  "models/slow.yml": model("augmented/slow", { tool_timeout_ms: 60000 }),
  "models/timeout.yml": model("augmented/timeout", { tool_timeout_ms: SHORT_TOOL_TIMEOUT_MS }),
  "models/inline.yml": model("augmented/inline", { include_global_skills: true, system_prompt: "Base prompt." }),
  "models/ondemand.yml": model("augmented/ondemand", { include_global_skills: true, skill_mode: "on_demand" }),
  "models/alias.yml": model("augmented/alias", { upstream_model: "worker" }),
  // Per request: a stable set would take HA's tools whole (they fit its cap); this test is about the ranking.
  "models/selected.yml": model("augmented/selected", { selection: { mode: "lexical", keep: 3, min_tools: 8, always: ["calculator"], cache: "per_request" } }),
  "skills/lights.md": "---\nname: lights\ndescription: How to switch lights\n---\nAlways confirm which room before switching a light.\n",
  "skills/weather/SKILL.md": "---\ndescription: Weather answers\n---\nGive temperatures in Celsius.\n",
};

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let tools: FakeToolSource;
let client: OpenAI;

beforeAll(async () => {
  // augmented/timeout's tool timeout is short; mathjs' first load can take longer on a loaded machine.
  await calculate("0");
  upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  tools = new FakeToolSource();
  const config = { upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], models: { aliases: { worker: "fake/fake-model" } }, log: { chat_history: true, bodies: true }, selection: { mode: "off" } };
  proxy = startProxy(config, {}, FILES, [tools]);
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "k", maxRetries: 0 });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

const play = (...replies: FakeReply[]) => {
  upstream.script.length = 0;
  upstream.script.push(...replies);
  upstream.requests.length = 0;
};
const sent = () => upstream.chatRequests.map((r) => r.body);
const lastRow = () => proxy.rows().at(-1)!;
/** The usage the fake reports for a request and reply (see fakes/openai-upstream.ts). */
const fakeUsage = (body: any, content?: string) => {
  const prompt = Math.ceil(JSON.stringify(body.messages).length / 4);
  const completion = Math.ceil((content ?? "Hello from the fake upstream.").length / 4);
  return { prompt, completion };
};
const CLIENT_TOOL = { type: "function" as const, function: { name: "client_light_on", description: "Turn on a light", parameters: { type: "object", properties: { room: { type: "string" } } } } };

test("non-streaming, one round with two proxy calls: results go back, the answer and summed usage come out", async () => {
  play({ toolCalls: [{ name: "calculator", arguments: { expression: "6 * 7" } }, { name: "get_current_time", arguments: { timezone: "Europe/Berlin" } }] }, { content: "It is 42 o'clock." });
  const res = await client.chat.completions.create({ model: "augmented/test", messages: [{ role: "system", content: "Client rules." }, { role: "user", content: "time and 6*7?" }], tools: [CLIENT_TOOL] });
  expect(res.choices[0]!.message.content).toBe("It is 42 o'clock.");
  expect(res.choices[0]!.finish_reason).toBe("stop");
  expect(res.model).toBe("augmented/test");

  const [first, second] = sent();
  // system prompt: ours (templates rendered, the failing one noted) merged into the client's first system message
  expect(first.messages[0].role).toBe("system");
  expect(first.messages[0].content).toMatch(/^You are a test assistant\. Now: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\. Broken: \[unavailable: no_such_tool: no tool named no_such_tool\]\.\n\nClient rules\.$/);
  expect(first.messages.length).toBe(2);
  expect(first.tools.map((t: any) => t.function.name)).toEqual(["client_light_on", "get_current_time", "calculator", "echo_tool", "slow_tool", "failing_tool", "garbage_tool"]);
  expect(first.temperature).toBe(0.25);
  expect(first.model).toBe("fake-model");
  // round 2 carries the assistant's calls and both results
  expect(second.messages.slice(2).map((m: any) => m.role)).toEqual(["assistant", "tool", "tool"]);
  expect(second.messages[3]).toEqual({ role: "tool", tool_call_id: "call_0", content: JSON.stringify({ expression: "6 * 7", result: "42" }) });
  expect(JSON.parse(second.messages[4].content).timezone).toBe("Europe/Berlin");

  const a = fakeUsage(first);
  const b = fakeUsage(second, "It is 42 o'clock.");
  expect(res.usage).toMatchObject({ prompt_tokens: a.prompt + b.prompt, completion_tokens: a.completion + b.completion });
  const row = lastRow();
  expect(row).toMatchObject({ status: 200, tool_rounds: 1, tool_loop_end: "answer", client_model: "augmented/test", prompt_tokens: a.prompt + b.prompt });
  expect(JSON.parse(row.proxy_tool_calls as unknown as string).map((c: any) => [c.name, c.ok])).toEqual([["calculator", true], ["get_current_time", true]]);
  // For the dashboard: each call's round and, with log.bodies, its arguments.
  expect(JSON.parse(row.proxy_tool_calls as unknown as string).map((c: any) => [c.round, JSON.parse(c.arguments)])).toEqual([[1, { expression: "6 * 7" }], [1, { timezone: "Europe/Berlin" }]]);
  expect(row.tool_time_ms).toBeGreaterThanOrEqual(0);
  expect(JSON.parse(row.response_body!).choices[0].message.content).toBe("It is 42 o'clock.");
});

test("streaming, several rounds (fragments and whole calls): content of every round streams, proxy calls never show, one finish and summed usage", async () => {
  play(
    { content: "Let me check. ", toolCalls: [{ name: "echo_tool", arguments: { text: "one" } }, { name: "echo_tool", arguments: { text: "two" } }] },
    { toolCalls: [{ name: "calculator", arguments: { expression: "2^10" } }], wholeToolCalls: true },
    { content: "The answer is 1024.", chunks: 4 },
  );
  const stream = await client.chat.completions.create({ model: "augmented/test", messages: [{ role: "user", content: "go" }], stream: true, stream_options: { include_usage: true } });
  let content = "";
  const finishes: string[] = [];
  const statuses: string[] = [];
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    const status = (chunk as unknown as { proxy_status?: { status: string; tool_name: string | null } }).proxy_status;
    if (status) statuses.push(`${status.status}${status.tool_name ? `:${status.tool_name}` : ""}`);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    expect(choice.delta.tool_calls).toBeUndefined();
    content += choice.delta.content ?? "";
    if (choice.finish_reason) finishes.push(choice.finish_reason);
  }
  expect(content).toBe("Let me check. The answer is 1024.");
  expect(finishes).toEqual(["stop"]);
  expect(statuses).toEqual([
    "executing_tool:echo_tool", "executing_tool:echo_tool", "tool_completed:echo_tool", "tool_completed:echo_tool", "processing_results", "calling_llm",
    "executing_tool:calculator", "tool_completed:calculator", "processing_results", "calling_llm",
  ]);
  const bodies = sent();
  expect(bodies.length).toBe(3);
  expect(bodies[1].messages.at(-3)).toMatchObject({ role: "assistant", content: "Let me check. ", tool_calls: [{ id: "call_0", function: { name: "echo_tool", arguments: '{"text":"one"}' } }, { id: "call_1" }] });
  expect(bodies[2].messages.at(-1)).toEqual({ role: "tool", tool_call_id: "call_0", content: JSON.stringify({ expression: "2^10", result: "1024" }) });
  const expected = bodies.map((b, i) => fakeUsage(b, ["Let me check. ", undefined, "The answer is 1024."][i]));
  expect(usage).toMatchObject({ prompt_tokens: expected.reduce((s, u) => s + u.prompt, 0), completion_tokens: expected.reduce((s, u) => s + u.completion, 0) });
  const row = lastRow();
  expect(row).toMatchObject({ tool_rounds: 2, tool_loop_end: "answer", finish_reason: "stop", stream: 1 });
  expect(JSON.parse(row.proxy_tool_calls as unknown as string).map((c: any) => c.round)).toEqual(bodies[1].messages.filter((m: any) => m.role === "tool").map(() => 1).concat([2]));
  expect(row.response_body).toEndWith("data: [DONE]\n\n");
  expect(row.response_body).toContain('"delta":{"role":"assistant","content":"Let me check. "}');
});

test("streaming, an upstream that answers a streamed request with JSON: the round is still read and looped", async () => {
  const json = { id: "x", object: "chat.completion", created: 1, model: "fake-model", choices: [{ index: 0, message: { role: "assistant", content: "Checking. ", tool_calls: [{ id: "c1", type: "function", function: { name: "echo_tool", arguments: '{"text":"j"}' } }] }, finish_reason: "tool_calls" }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } };
  play({ body: json }, { content: "Done." });
  const runner = client.chat.completions.stream({ model: "augmented/test", messages: [{ role: "user", content: "j" }] });
  const final = await runner.finalChatCompletion();
  expect(final.choices[0]!.message.content).toBe("Checking. Done.");
  expect(sent()[1].messages.at(-1)).toEqual({ role: "tool", tool_call_id: "c1", content: JSON.stringify({ echo: "j" }) });
});

test("the OpenAI SDK's stream helper accepts the status chunks and assembles the final completion", async () => {
  play({ toolCalls: [{ name: "echo_tool", arguments: { text: "x" } }] }, { content: "Fine." });
  const runner = client.chat.completions.stream({ model: "augmented/test", messages: [{ role: "user", content: "hi" }] });
  const final = await runner.finalChatCompletion();
  expect(final.choices[0]!.message.content).toBe("Fine.");
  expect(final.choices[0]!.finish_reason).toBe("stop");
});

describe("mixed client and proxy calls", () => {
  test("non-streaming: only the client's call is returned; its next request gets the proxy's call spliced back in place", async () => {
    play({ content: "On it.", toolCalls: [{ name: "echo_tool", arguments: { text: "p" }, id: "call_proxy" }, { name: "client_light_on", arguments: { room: "kitchen" }, id: "call_client" }] }, { content: "The kitchen light is on." });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "kitchen light on please" }];
    const res = await client.chat.completions.create({ model: "augmented/test", messages, tools: [CLIENT_TOOL] });
    const message = res.choices[0]!.message;
    expect(res.choices[0]!.finish_reason).toBe("tool_calls");
    expect(message.content).toBe("On it.");
    expect(message.tool_calls).toEqual([{ id: "call_client", type: "function", function: { name: "client_light_on", arguments: '{"room":"kitchen"}' } }]);
    expect(lastRow()).toMatchObject({ tool_loop_end: "client_tools", tool_rounds: 1 });

    const next = await client.chat.completions.create({
      model: "augmented/test",
      messages: [...messages, message, { role: "tool", tool_call_id: "call_client", content: '{"success":true}' }],
      tools: [CLIENT_TOOL],
    });
    expect(next.choices[0]!.message.content).toBe("The kitchen light is on.");
    const history = sent()[1].messages.slice(1);
    expect(history.map((m: any) => [m.role, m.tool_call_id ?? m.tool_calls?.map((c: any) => c.id).join(",") ?? null])).toEqual([
      ["user", null],
      ["assistant", "call_proxy,call_client"],
      ["tool", "call_proxy"],
      ["tool", "call_client"],
    ]);
    expect(history[2].content).toBe(JSON.stringify({ echo: "p" }));
  });

  test("streaming: the client's call streams with index 0, the proxy's is held back", async () => {
    play({ toolCalls: [{ name: "echo_tool", arguments: { text: "p" } }, { name: "client_light_on", arguments: { room: "hall" } }] });
    const runner = client.chat.completions.stream({ model: "augmented/test", messages: [{ role: "user", content: "hall light" }], tools: [CLIENT_TOOL] });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
    expect(final.choices[0]!.message.tool_calls!.map((c) => [c.id, (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.name, (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments])).toEqual([["call_1", "client_light_on", '{"room":"hall"}']]);
    expect(tools.calls.at(-1)).toMatchObject({ name: "echo_tool", args: { text: "p" }, outcome: "ok" });
  });
});

test("a tool that throws, one that times out and one that returns garbage give the model {error} results, and the loop goes on", async () => {
  play({ toolCalls: [{ name: "failing_tool", arguments: {} }, { name: "slow_tool", arguments: { ms: 60_000 } }, { name: "garbage_tool", arguments: {} }, { name: "calculator", arguments: { expression: "1 +" } }] }, { content: "Sorry." });
  const res = await client.chat.completions.create({ model: "augmented/timeout", messages: [{ role: "user", content: "break" }] });
  expect(res.choices[0]!.message.content).toBe("Sorry.");
  const results = sent()[1].messages.filter((m: any) => m.role === "tool").map((m: any) => JSON.parse(m.content).error);
  expect(results[0]).toBe("tool failing_tool failed: the fake tool broke");
  expect(results[1]).toMatch(new RegExp(`timed out after ${SHORT_TOOL_TIMEOUT_MS} ms`));
  expect(results[2]).toBe("tool garbage_tool returned an invalid result");
  expect(results[3]).toMatch(/^cannot parse/);
  const calls = JSON.parse(lastRow().proxy_tool_calls as unknown as string);
  expect(calls.map((c: any) => c.ok)).toEqual([false, false, false, false]);
});

test("malformed tool_calls in the client's history: 400 in the OpenAI shape naming the field, nothing sent upstream", async () => {
  play({ content: "never" });
  const bad = [
    ["bad", "messages[1].tool_calls"],
    [[null], "messages[1].tool_calls[0]"],
    [[{ id: "c1", type: "function" }], "messages[1].tool_calls[0].function"],
    [[{ id: "c1", type: "function", function: { arguments: "{}" } }], "messages[1].tool_calls[0].function.name"],
  ] as const;
  for (const [toolCalls, param] of bad) {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "augmented/test", messages: [{ role: "user", content: "x" }, { role: "assistant", content: null, tool_calls: toolCalls }, { role: "user", content: "y" }] }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { type: string; param: string; message: string } };
    expect(error).toMatchObject({ type: "invalid_request_error", code: "invalid_type", param });
    expect(error.message).toStartWith(`Invalid type for '${param}': expected `);
  }
  expect(sent()).toEqual([]);
});

test("a proxy call with broken arguments (a reply cut by max_tokens): an error result with the text, and valid JSON in the history sent back", async () => {
  play({ toolCalls: [{ name: "echo_tool", arguments: { text: "ok" } }, { name: "echo_tool", arguments: '{"text": "cut' }] }, { content: "Done." });
  const res = await client.chat.completions.create({ model: "augmented/test", messages: [{ role: "user", content: "two echoes" }] });
  expect(res.choices[0]!.message.content).toBe("Done.");
  const [assistant, first, second] = sent()[1].messages.slice(-3);
  // Upstreams that render the history (llama.cpp's templates, Ollama) refuse arguments that are not JSON.
  expect(assistant.tool_calls.map((c: any) => c.function.arguments)).toEqual(['{"text":"ok"}', "{}"]);
  expect(JSON.parse(first.content)).toEqual({ echo: "ok" });
  expect(JSON.parse(second.content)).toEqual({ error: "the arguments of echo_tool are not a JSON object", arguments: '{"text": "cut' });
});

test("max_tool_rounds reached: one more call without proxy tools, the client gets its answer, the log says so", async () => {
  const again = { toolCalls: [{ name: "echo_tool", arguments: { text: "again" } }] };
  play(again, again, again, { content: "Giving up on tools." });
  const res = await client.chat.completions.create({ model: "augmented/test", messages: [{ role: "user", content: "loop" }], tools: [CLIENT_TOOL] });
  expect(res.choices[0]!.message.content).toBe("Giving up on tools.");
  const bodies = sent();
  expect(bodies.length).toBe(4);
  expect(bodies[2].tools.length).toBe(7);
  expect(bodies[3].tools.map((t: any) => t.function.name)).toEqual(["client_light_on"]);
  expect(lastRow()).toMatchObject({ tool_rounds: 3, tool_loop_end: "max_tool_rounds" });
});

test("a client that disconnects during a tool run aborts the tool, and no further upstream call is made", async () => {
  play({ toolCalls: [{ name: "slow_tool", arguments: { ms: 60_000 } }] }, { content: "never" });
  const before = tools.calls.length;
  const controller = new AbortController();
  const res = await fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "augmented/slow", messages: [{ role: "user", content: "wait" }], stream: true }),
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  // the slow call started on the registered fake source
  for (let i = 0; i < 100 && tools.calls.length === before; i++) await Bun.sleep(10);
  expect(tools.calls.at(-1)!.name).toBe("slow_tool");
  controller.abort();
  for (let i = 0; i < 200 && tools.calls.at(-1)!.outcome === undefined; i++) await Bun.sleep(10);
  expect(tools.calls.at(-1)!.outcome).toBe("aborted");
  await Bun.sleep(50);
  expect(sent().length).toBe(1);
  expect(lastRow()).toMatchObject({ status: 499, tool_loop_end: "client_disconnected" });
});

test("non-streaming: a client that disconnects during a tool run aborts the tool too", async () => {
  play({ toolCalls: [{ name: "slow_tool", arguments: { ms: 60_000 } }] }, { content: "never" });
  const before = tools.calls.length;
  const controller = new AbortController();
  const pending = fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "augmented/slow", messages: [{ role: "user", content: "wait" }] }),
    signal: controller.signal,
  }).catch(() => undefined);
  for (let i = 0; i < 200 && tools.calls.length === before; i++) await Bun.sleep(10);
  expect(tools.calls.at(-1)!.name).toBe("slow_tool");
  controller.abort();
  await pending;
  for (let i = 0; i < 200 && tools.calls.at(-1)!.outcome === undefined; i++) await Bun.sleep(10);
  expect(tools.calls.at(-1)!.outcome).toBe("aborted");
  for (let i = 0; i < 100 && lastRow().status !== 499; i++) await Bun.sleep(10);
  expect(lastRow()).toMatchObject({ status: 499, tool_loop_end: "client_disconnected" });
  expect(sent().length).toBe(1);
});

describe("status modes", () => {
  const run = async (name: string) => {
    play({ toolCalls: [{ name: "echo_tool", arguments: { text: "s" } }] }, { content: "ok" });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: name, messages: [{ role: "user", content: "s" }], stream: true }) });
    const events = (await res.text()).split("\n\n").filter(Boolean).map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    return events.slice(0, -1).map((e) => JSON.parse(e));
  };

  test("thinking: the status events arrive as reasoning_content", async () => {
    const chunks = await run("augmented/thinking");
    expect(chunks.some((c) => "proxy_status" in c)).toBe(false);
    const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? "").join("");
    expect(reasoning).toBe("Running echo_tool…\necho_tool finished.\nReading the tool results…\nThinking about the results…\n");
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("ok");
  });

  test("off: nothing but the answer", async () => {
    const chunks = await run("augmented/off");
    expect(chunks.some((c) => "proxy_status" in c || c.choices[0]?.delta?.reasoning_content)).toBe(false);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason).length).toBe(1);
  });

  test("chunks (OpenAI default): empty choices and a proxy_status object", async () => {
    const chunks = await run("augmented/test");
    const status = chunks.filter((c) => "proxy_status" in c);
    expect(status[0]).toMatchObject({ object: "chat.completion.chunk", choices: [], proxy_status: { type: "tool_execution", status: "executing_tool", tool_name: "echo_tool" } });
  });
});

describe("skills", () => {
  test("inline: the skills' text is appended to the system prompt", async () => {
    play({ content: "ok" });
    await client.chat.completions.create({ model: "augmented/inline", messages: [{ role: "user", content: "hi" }] });
    expect(sent()[0].messages[0]).toEqual({ role: "system", content: "Base prompt.\n\n## Skill: lights\nAlways confirm which room before switching a light.\n\n## Skill: weather\nGive temperatures in Celsius." });
    expect(sent()[0].tools.map((t: any) => t.function.name)).not.toContain("load_skill");
  });

  test("on demand: names and descriptions in the prompt, load_skill returns the full text", async () => {
    play({ toolCalls: [{ name: "load_skill", arguments: { name: "lights" } }] }, { content: "Which room?" });
    const res = await client.chat.completions.create({ model: "augmented/ondemand", messages: [{ role: "user", content: "light on" }] });
    expect(res.choices[0]!.message.content).toBe("Which room?");
    const [first, second] = sent();
    expect(first.messages[0].content).toBe("Skills you can load with the load_skill tool when a request needs one:\n- lights: How to switch lights\n- weather: Weather answers");
    expect(first.tools.at(-1).function).toMatchObject({ name: "load_skill", parameters: { properties: { name: { enum: ["lights", "weather"] } } } });
    expect(second.messages.at(-1).content).toBe("Always confirm which room before switching a light.");
  });
});

describe("Ollama front", () => {
  const ollama = () => new Ollama({ host: proxy.url });

  test("streaming /api/chat runs the same loop in NDJSON, with the status as thinking by default", async () => {
    play({ toolCalls: [{ name: "calculator", arguments: { expression: "3 * 3" } }] }, { content: "Nine." });
    const parts = await ollama().chat({ model: "augmented/test", messages: [{ role: "user", content: "3*3" }], stream: true });
    const { content, thinking, parts: read, doneReasons } = await readChat(parts);
    for (const part of read) expect(part.message.tool_calls).toBeUndefined();
    expect(content).toBe("Nine.");
    expect(thinking).toContain("Running calculator…");
    expect(doneReasons.length).toBe(1);
    expect(sent()[1].messages.at(-1).content).toBe(JSON.stringify({ expression: "3 * 3", result: "9" }));
  });

  test("non-streaming /api/chat: mixed calls return Ollama-shaped client calls; the history Ollama clients send back (no ids) is spliced", async () => {
    play({ toolCalls: [{ name: "echo_tool", arguments: { text: "o" } }, { name: "client_light_on", arguments: { room: "attic" } }] }, { content: "Attic light on." });
    const tool = { type: "function", function: { name: "client_light_on", description: "Turn on a light", parameters: { type: "object", properties: { room: { type: "string" } } } } };
    const messages = [{ role: "system", content: "HA rules." }, { role: "user", content: "attic light" }];
    const res = await ollama().chat({ model: "augmented/test", messages, tools: [tool], stream: false, options: { num_ctx: 8192 } });
    expect(res.message.tool_calls).toEqual([{ function: { name: "client_light_on", arguments: { room: "attic" } } }]);
    const next = await ollama().chat({
      model: "augmented/test",
      messages: [...messages, { role: "assistant", content: "", tool_calls: [{ function: { name: "client_light_on", arguments: { room: "attic" } } }] }, { role: "tool", content: '{"success":true}' }],
      tools: [tool],
      stream: false,
    });
    expect(next.message.content).toBe("Attic light on.");
    const history = sent()[1].messages;
    expect(history.slice(2).map((m: any) => [m.role, m.tool_calls?.map((c: any) => c.function.name).join(",") ?? m.content])).toEqual([
      ["assistant", "echo_tool,client_light_on"],
      ["tool", JSON.stringify({ echo: "o" })],
      ["tool", '{"success":true}'],
    ]);
  });

  test("streaming /api/chat over several rounds to a model whose upstream_model is an alias", async () => {
    play({ toolCalls: [{ name: "echo_tool", arguments: { text: "1" } }] }, { toolCalls: [{ name: "echo_tool", arguments: { text: "2" } }], wholeToolCalls: true }, { content: "Two rounds." });
    const parts = await ollama().chat({ model: "augmented/alias", messages: [{ role: "user", content: "twice" }], stream: true });
    let content = "";
    for await (const part of parts) content += part.message.content;
    expect(content).toBe("Two rounds.");
    expect(sent().map((b) => b.model)).toEqual(["fake-model", "fake-model", "fake-model"]);
    expect(sent()[2].messages.filter((m: any) => m.role === "tool").map((m: any) => m.content)).toEqual([JSON.stringify({ echo: "1" }), JSON.stringify({ echo: "2" })]);
    expect(lastRow()).toMatchObject({ endpoint: "/api/chat", tool_rounds: 2, tool_loop_end: "answer" });
  });

  test("/api/generate to an augmented model runs the loop too", async () => {
    play({ toolCalls: [{ name: "calculator", arguments: { expression: "2 + 2" } }] }, { content: "Four." });
    const res = await ollama().generate({ model: "augmented/test", prompt: "2+2?", stream: false });
    expect(res.response).toBe("Four.");
    expect(sent()[0].messages[0].content).toStartWith("You are a test assistant.");
    expect(lastRow()).toMatchObject({ endpoint: "/api/generate", tool_rounds: 1 });
  });

  test("/api/tags lists augmented models; /api/show declares tools", async () => {
    const tags = await ollama().list();
    expect(tags.models.map((m) => m.name)).toContain("augmented/test");
    const show = await ollama().show({ model: "augmented/test" });
    expect(show.capabilities).toContain("tools");
  });
});

test("/v1/models and /v1/models/{id} list augmented models with description and owned_by", async () => {
  const ids = (await client.models.list()).data;
  expect(ids.find((m) => m.id === "augmented/test")).toMatchObject({ owned_by: "tests", description: "Test model augmented/test" });
  const one = await client.models.retrieve("augmented/test");
  expect(one).toMatchObject({ id: "augmented/test", owned_by: "tests" });
});

test("tool selection ranks the client's and the proxy's tools together, under the model's own selection settings", async () => {
  const haTools = JSON.parse(readFileSync(join(import.meta.dir, "../../shared/datasets/tool-selection/tools/ha-assist.json"), "utf8"));
  play({ content: "ok" });
  await client.chat.completions.create({ model: "augmented/selected", messages: [{ role: "user", content: "turn on the kitchen light" }], tools: haTools });
  const names: string[] = sent()[0].tools.map((t: any) => t.function.name);
  expect(names).toContain("calculator");
  expect(names).toContain("HassTurnOn");
  expect(names.length).toBeLessThan(haTools.length);
  expect(lastRow()).toMatchObject({ selection_mode: "lexical", tools_received: haTools.length + 6 });
});

test("a model that is not augmented is forwarded byte-identical, both ways", async () => {
  play({ content: "plain", chunks: 3 });
  const text = `{"model":"fake-model",  "messages":[{"role":"system","content":"mine"},{"role":"user","content":"hi"}],"stream":true,"tools":[${JSON.stringify(CLIENT_TOOL)}]}`;
  const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: text });
  const body = await res.text();
  expect(upstream.chatRequests[0]!.raw).toBe(text);
  expect(body).toBe(upstream.streamsSent.at(-1)!);
  expect(body).not.toContain("proxy_status");
});

test("chat history: one JSONL file per model and conversation, with request, rounds, tool calls and the answer", async () => {
  play({ toolCalls: [{ name: "echo_tool", arguments: { text: "h" } }] }, { content: "Logged." });
  await fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-conversation-id": "conv-42" },
    body: JSON.stringify({ model: "augmented/test", messages: [{ role: "user", content: "log me" }] }),
  });
  await proxy.runtime.state.chats!.flush();
  const file = proxy.runtime.state.chats!.fileOf("augmented/test", "conv-42");
  const events = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(events.map((e) => e.type)).toEqual(["request", "round", "tool_call", "round", "answer"]);
  expect(events[2]).toMatchObject({ name: "echo_tool", arguments: '{"text":"h"}', result: JSON.stringify({ echo: "h" }), ok: true });
  expect(events[4].message.content).toBe("Logged.");
});

test("POST /admin/reload: a broken model file is refused with file, key path, expected and found; the running set stays; a fixed one is added", async () => {
  const file = join(proxy.dir, "models/zz-new.yml");
  writeFileSync(file, "name: augmented/new\nmax_tool_rounds: lots\n");
  const bad = await fetch(`${proxy.url}/admin/reload`, { method: "POST" });
  expect(bad.status).toBe(400);
  const error = ((await bad.json()) as { error: { message: string } }).error.message;
  expect(error).toContain(`${file}: max_tool_rounds: expected integer, found "lots"`);
  expect((await client.models.list()).data.map((m) => m.id)).not.toContain("augmented/new");

  writeFileSync(file, "name: augmented/new\nupstream_model: fake/fake-model\ntools: [calculator]\n");
  const good = await fetch(`${proxy.url}/admin/reload`, { method: "POST" });
  expect(good.status).toBe(200);
  expect(await good.json()).toEqual({ status: "reloaded", changes: { config: false, models: { added: ["augmented/new"], removed: [], changed: [] }, mcp_servers: { added: [], removed: [], changed: [], unchanged: [] } } });
  expect((await client.models.list()).data.map((m) => m.id)).toContain("augmented/new");
  rmSync(file);
  expect(existsSync(file)).toBe(false);
});
