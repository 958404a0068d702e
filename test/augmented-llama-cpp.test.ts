/**
 * The tool loop against a real llama.cpp `llama-server` (../shared/llama-cpp, the `tools-tiny` model:
 * real Qwen-format tool calls parsed by llama-server, a random tool among those offered, sometimes
 * several at once), through the real `openai` client, streamed and not. The augmented model's only
 * tool is the built-in get_current_time, so every call the model makes is the proxy's: the proxy runs
 * them, feeds the results back, and after max_tool_rounds calls the model once more without tools.
 * Without tools, tools-tiny writes `<tool_call>` as text until max_tokens: the client must get that
 * as plain content, one choice, one finish_reason ("length"), no tool calls, and usage summed over
 * every round.
 *
 * The Ollama front (/api/chat, NDJSON) gets the same loop, its status as `thinking`.
 *
 * Skipped, with start.sh's reason, only when the bundled binary cannot run on this machine (start.sh
 * exit 3); any other start failure fails the suite. The server is stopped by its PID in afterAll.
 * Ports 20670-20679 (the first free one).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { stringify } from "yaml";
import { startLlamaServer, type LlamaServer } from "./fakes/llama-server.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";
import { readChat } from "./fakes/ollama-chat.ts";

/** Timeout of a test: a few hundred generated tokens, ~40 tokens/s on a 2-core machine at load 10 (~400 idle). */
const SLOW = 60_000;
/** Rounds of proxy calls before the final call without tools (tools-tiny calls a tool whenever it is offered one). */
const MAX_TOOL_ROUNDS = 2;
/** The client's max_tokens: room for a few parallel calls per round (~25 tokens each); the final round writes exactly this many. */
const MAX_TOKENS = 160;
const MODEL = "augmented/clock";

const PORTS = Array.from({ length: 10 }, (_, i) => 20670 + i);
const started = await startLlamaServer("tools-tiny", PORTS, { ALIAS: "tools-random" });
const skip = "skip" in started ? started.skip : undefined;
if (skip) console.warn(`test/augmented-llama-cpp.test.ts skipped: the bundled llama-server cannot run on this machine: ${skip}`);

let proxy: TestProxy;
let client: OpenAI;

/** The chat history of one conversation (log.chat_history): request, rounds, tool calls, answer. */
async function history(conversation: string): Promise<any[]> {
  await proxy.runtime.state.chats!.flush();
  const file = proxy.runtime.state.chats!.fileOf(MODEL, conversation);
  return readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

/** What every finished loop shows in the log: max_tool_rounds rounds of get_current_time calls, each call run and recorded. */
async function expectExhaustedLoop(conversation: string) {
  const row = proxy.rows().at(-1)!;
  expect(row).toMatchObject({ status: 200, client_model: MODEL, tool_rounds: MAX_TOOL_ROUNDS, tool_loop_end: "max_tool_rounds", finish_reason: "length" });
  const runs = JSON.parse(row.proxy_tool_calls as unknown as string) as { name: string }[];
  expect(runs.length).toBeGreaterThanOrEqual(MAX_TOOL_ROUNDS);
  expect(new Set(runs.map((r) => r.name))).toEqual(new Set(["get_current_time"]));

  const events = await history(conversation);
  const calls = events.filter((e) => e.type === "tool_call");
  expect(calls.length).toBe(runs.length);
  for (const call of calls) {
    // Junk arguments (a time zone "#") give an {error} result, good ones the time (text or JSON by `format`).
    if (call.ok) expect(call.result).toMatch(/\d{4}-\d\d-\d\dT|\d\d:\d\d:\d\d/);
    else expect(JSON.parse(call.result)).toHaveProperty("error");
  }
  const rounds = events.filter((e) => e.type === "round");
  expect(rounds.length).toBe(MAX_TOOL_ROUNDS + 1);
  expect(rounds.slice(0, -1).every((r) => r.message.tool_calls.length >= 1)).toBe(true);
  return { row, events, rounds };
}

describe.skipIf(skip !== undefined)("the tool loop in front of a real llama-server (tools-tiny)", () => {
  beforeAll(() => {
    const server = started as LlamaServer;
    const model = { name: MODEL, upstream_model: "llama/tools-random", tools: ["get_current_time"], max_tool_rounds: MAX_TOOL_ROUNDS, tool_timeout_ms: 10_000, include_global_skills: false };
    proxy = startProxy(
      // The default retries: a request llama-server never read (ECONNRESET before any response, ~1 run in 10 at load 12) is sent again, as for any user.
      { upstreams: [{ name: "llama", base_url: `${server.url}/v1` }], log: { chat_history: true, bodies: true }, selection: { mode: "off" } },
      {},
      { "models/clock.yml": stringify(model) },
    );
    client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(() => {
    proxy?.stop();
    (started as LlamaServer).stop();
  });

  test(
    "not streamed: the proxy runs every call, feeds the results back, ends without tools; one choice, content, usage summed over all rounds",
    async () => {
      const res = await client.chat.completions.create(
        { model: MODEL, messages: [{ role: "user", content: "What time is it?" }], max_tokens: MAX_TOKENS, seed: 1 },
        { headers: { "x-conversation-id": "plain" } },
      );
      expect(res.object).toBe("chat.completion");
      expect(res.model).toBe(MODEL);
      expect(res.choices.length).toBe(1);
      const choice = res.choices[0]!;
      expect(choice.finish_reason).toBe("length");
      expect(choice.message.tool_calls ?? []).toEqual([]);
      expect(choice.message.content).toStartWith("<tool_call>");

      const { rounds } = await expectExhaustedLoop("plain");
      // Each tool round's prompt holds the previous rounds' calls and their results (the final one has no tool definitions, so it is shorter).
      const prompts = rounds.slice(0, MAX_TOOL_ROUNDS).map((r) => r.usage.prompt_tokens as number);
      for (let i = 1; i < prompts.length; i++) expect(prompts[i]!).toBeGreaterThan(prompts[i - 1]!);
      expect(rounds.at(-1).usage.completion_tokens).toBe(MAX_TOKENS);
      const sum = (key: "prompt_tokens" | "completion_tokens") => rounds.reduce((n, r) => n + r.usage[key], 0);
      expect(res.usage).toMatchObject({ prompt_tokens: sum("prompt_tokens"), completion_tokens: sum("completion_tokens"), total_tokens: sum("prompt_tokens") + sum("completion_tokens") });
    },
    SLOW,
  );

  test(
    "streamed: content deltas only, status chunks while tools run, one finish_reason, summed usage, [DONE]",
    async () => {
      const stream = await client.chat.completions.create(
        { model: MODEL, messages: [{ role: "user", content: "What time is it?" }], max_tokens: MAX_TOKENS, seed: 2, stream: true, stream_options: { include_usage: true } },
        { headers: { "x-conversation-id": "streamed" } },
      );
      const chunks: (OpenAI.ChatCompletionChunk & { proxy_status?: { type: string; status: string; tool_name: string | null } })[] = [];
      for await (const chunk of stream) chunks.push(chunk);

      expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
      expect(chunks.some((c) => c.choices.some((ch) => ch.delta.tool_calls))).toBe(false);
      const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f != null);
      expect(finishes).toEqual(["length"]);
      const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? "")).join("");
      expect(content).toStartWith("<tool_call>");

      const { row } = await expectExhaustedLoop("streamed");
      const runs = JSON.parse(row.proxy_tool_calls as unknown as string) as unknown[];
      const statuses = chunks.filter((c) => c.proxy_status).map((c) => c.proxy_status!);
      expect(chunks.filter((c) => c.proxy_status).every((c) => c.choices.length === 0)).toBe(true);
      expect(statuses.filter((s) => s.status === "executing_tool").map((s) => s.tool_name)).toEqual(runs.map(() => "get_current_time"));
      expect(statuses.filter((s) => s.status === "tool_completed").length).toBe(runs.length);

      // The usage chunk comes last, after the finish_reason, and sums every round: the final round alone wrote max_tokens.
      const usage = chunks.at(-1)!;
      expect(usage.choices).toEqual([]);
      expect(usage.usage!.completion_tokens).toBeGreaterThan(MAX_TOKENS);
      expect(usage.usage!.total_tokens).toBe(usage.usage!.prompt_tokens + usage.usage!.completion_tokens);
      expect(row).toMatchObject({ prompt_tokens: usage.usage!.prompt_tokens, completion_tokens: usage.usage!.completion_tokens });

      // What went over the wire (log.bodies keeps it): JSON events, no error event, one [DONE] at the end.
      const events = row.response_body!.split("\n\n").filter((e) => e.length > 0);
      expect(events.at(-1)).toBe("data: [DONE]");
      expect(events.filter((e) => e === "data: [DONE]").length).toBe(1);
      for (const event of events.slice(0, -1)) expect(JSON.parse(event.replace(/^data: /, ""))).not.toHaveProperty("error");
    },
    SLOW,
  );

  test(
    "Ollama /api/chat streamed: the same loop in NDJSON, status as thinking, one done part",
    async () => {
      const ollama = new Ollama({ host: proxy.url, headers: { "x-conversation-id": "ollama" } });
      const parts = await ollama.chat({ model: MODEL, messages: [{ role: "user", content: "What time is it?" }], stream: true, options: { num_predict: MAX_TOKENS, seed: 3 } });
      const { content, thinking, parts: read, doneReasons } = await readChat(parts);
      for (const part of read) expect(part.message.tool_calls ?? []).toEqual([]);
      expect(doneReasons).toEqual(["length"]);
      expect(content).toStartWith("<tool_call>");
      expect(thinking).toContain("Running get_current_time");
      await expectExhaustedLoop("ollama");
    },
    SLOW,
  );
});
