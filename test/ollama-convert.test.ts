/** The pure Ollama <-> OpenAI conversions, on the edge cases the client tests do not reach. */
import { describe, expect, test } from "bun:test";
import { OLLAMA_EXTRAS } from "../src/protocol/ollama.ts";
import { modelDetails } from "../src/protocol/ollama-models.ts";
import { chatRequestFromOllama, imageUrl, ollamaChatRequestFrom, parseToolArguments } from "../src/protocol/ollama-request.ts";
import { completionFromOllama, doneStats, ollamaMessageFrom } from "../src/protocol/ollama-response.ts";
import { ProxyError } from "../src/server/errors.ts";

const withArguments = (args: unknown) => chatRequestFromOllama({ model: "m", messages: [{ role: "assistant", tool_calls: [{ function: { name: "f", arguments: args as Record<string, unknown> } }] }] });

describe("tool-call arguments", () => {
  test("objects and JSON-object strings become JSON strings; empty or missing is {}", () => {
    for (const [args, sent] of [
      [{ x: 1 }, '{"x":1}'],
      ['{"x": 1}', '{"x": 1}'],
      ["", "{}"],
      ["null", "{}"],
      [undefined, "{}"],
    ] as const) {
      expect(withArguments(args).messages[0]!.tool_calls![0]!.function.arguments).toBe(sent);
    }
  });

  test("anything else is a 400 naming the field", () => {
    for (const args of [[1], "[1]", 5, "{bad"]) {
      const err = (() => {
        try {
          withArguments(args);
        } catch (e) {
          return e;
        }
      })() as ProxyError;
      expect(err).toBeInstanceOf(ProxyError);
      expect(err.status).toBe(400);
      expect(err.message).toContain("messages[0].tool_calls[0].function.arguments");
    }
  });

  test("upstream arguments: strings parsed, objects kept, non-objects refused with 502", () => {
    expect(parseToolArguments('{"a":[1]}')).toEqual({ a: [1] });
    expect(parseToolArguments({ a: 1 })).toEqual({ a: 1 });
    expect(parseToolArguments("")).toEqual({});
    expect(parseToolArguments("[1]")).toBeUndefined();
    const message = { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function" as const, function: { name: "f", arguments: "{" } }] };
    expect(() => ollamaMessageFrom(message)).toThrow(/tool 'f'/);
  });
});

describe("request fields", () => {
  test("num_predict -1 and -2 set no max_tokens; num_ctx and keep_alive stay out of the JSON but reach Ollama (num_ctx every upstream)", () => {
    const body = { model: "m", messages: [{ role: "user", content: "x" }], options: { num_predict: -1, num_ctx: 4096 }, keep_alive: 0, think: false };
    // Other upstreams get only num_ctx (the compress stage's context window), still outside the JSON.
    expect(chatRequestFromOllama(body)[OLLAMA_EXTRAS]).toEqual({ options: { num_ctx: 4096 } });
    expect(Object.getOwnPropertySymbols(chatRequestFromOllama({ ...body, options: { num_predict: -1 } }))).toEqual([]);
    const request = chatRequestFromOllama(body, true);
    expect(request.max_tokens).toBeUndefined();
    expect(JSON.parse(JSON.stringify(request))).toEqual({ model: "m", messages: [{ role: "user", content: "x" }], stream: true, stream_options: { include_usage: true } });
    expect(request[OLLAMA_EXTRAS]).toEqual({ options: { num_predict: -1, num_ctx: 4096 }, keep_alive: 0, think: false });
    // A pipeline stage that copies the request keeps them.
    const copied = { ...request, max_tokens: 10 };
    expect(ollamaChatRequestFrom(copied)).toMatchObject({ options: { num_predict: 10, num_ctx: 4096 }, keep_alive: 0, think: false, stream: true });
  });

  test("images: MIME type from the first bytes, URLs kept", () => {
    expect(imageUrl("/9j/4AAQ")).toBe("data:image/jpeg;base64,/9j/4AAQ");
    expect(imageUrl("R0lGODlh")).toBe("data:image/gif;base64,R0lGODlh");
    expect(imageUrl("https://x/y.png")).toBe("https://x/y.png");
  });

  test("Ollama upstreams refuse http image URLs with a 400", () => {
    const request = { model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }] };
    expect(() => ollamaChatRequestFrom(request)).toThrow(/base64 data: URLs/);
  });
});

describe("model details from names", () => {
  test("family, parameter size, quantization", () => {
    expect(modelDetails("qwen3:8b")).toMatchObject({ family: "qwen3", parameter_size: "8B", quantization_level: "" });
    expect(modelDetails("llama3.2:3b-instruct-q4_K_M")).toMatchObject({ family: "llama3", parameter_size: "3B", quantization_level: "Q4_K_M" });
    expect(modelDetails("Qwen/Qwen2.5-7B-Instruct")).toMatchObject({ family: "Qwen2", parameter_size: "7B" });
    expect(modelDetails("gpt-4o-mini")).toMatchObject({ family: "gpt", parameter_size: "" });
  });
});

describe("durations of the final object", () => {
  const usage = { prompt_tokens: 100, completion_tokens: 12, total_tokens: 112 };

  test("the upstream's timings win; counts fall back to them when usage is missing", () => {
    const timings = { cache_n: 90, prompt_n: 10, prompt_ms: 2.5, predicted_n: 12, predicted_ms: 30 };
    expect(doneStats({ startedMs: 0, firstTokenMs: 40, endMs: 100 }, usage, "stop", 0, timings)).toMatchObject({
      total_duration: 100e6,
      prompt_eval_duration: 2.5e6,
      eval_duration: 30e6,
      prompt_eval_count: 100,
      eval_count: 12,
    });
    expect(doneStats({ startedMs: 0, endMs: 100 }, undefined, "stop", 0, timings)).toMatchObject({ prompt_eval_count: 100, eval_count: 12 });
  });

  test("streamed without timings: split at the first token as the proxy saw it", () => {
    expect(doneStats({ startedMs: 0, firstTokenMs: 40, endMs: 100 }, usage, "stop")).toMatchObject({ prompt_eval_duration: 40e6, eval_duration: 60e6, total_duration: 100e6 });
  });

  test("a whole reply without timings: all the wait counts as generation (a lower bound on the rate), none as prompt", () => {
    expect(doneStats({ startedMs: 0, endMs: 100 }, usage, "stop")).toMatchObject({ prompt_eval_duration: 0, eval_duration: 100e6, total_duration: 100e6 });
  });

  test("an Ollama upstream's own durations survive the canonical form as timings", () => {
    const reply = { model: "m", created_at: "2025-01-01T00:00:00Z", message: { role: "assistant", content: "hi" }, done: true, done_reason: "stop", prompt_eval_count: 21, prompt_eval_duration: 5e6, eval_count: 7, eval_duration: 70e6 };
    const completion = completionFromOllama(reply, "m", "id");
    expect(completion.timings).toEqual({ prompt_n: 21, prompt_ms: 5, predicted_n: 7, predicted_ms: 70 });
    expect(doneStats({ startedMs: 0, endMs: 200 }, completion.usage, "stop", 0, completion.timings)).toMatchObject({ prompt_eval_duration: 5e6, eval_duration: 70e6 });
  });
});
