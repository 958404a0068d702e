/**
 * Line splitting: upstream bytes arriving in odd chunk boundaries (inside a JSON object, inside the
 * `data:` prefix, inside a multi-byte character) still give one valid NDJSON object per line, both
 * for the pure stream translators and end to end through the proxy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NDJSONParser } from "../src/protocol/ndjson.ts";
import { ndjsonFromSSE, OllamaStreamEncoder, OpenAIChunkEncoder, sseFromNDJSON } from "../src/protocol/ollama-stream.ts";
import { SSEParser } from "../src/protocol/sse.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const encoder = new TextEncoder();

const chunk = (delta: object, finish_reason: string | null = null) => ({ id: "c", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta, finish_reason }] });
const sse = (events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";

/** An SSE transcript with reasoning, multi-byte text, two interleaved tool calls in fragments, and usage. */
const TRANSCRIPT = sse([
  chunk({ role: "assistant", content: "" }),
  chunk({ reasoning_content: "Lights → on" }),
  chunk({ content: "Grüße 👋 " }),
  chunk({ content: "from the kitchen." }),
  chunk({ tool_calls: [{ index: 0, id: "a", type: "function", function: { name: "HassTurnOn", arguments: "" } }] }),
  chunk({ tool_calls: [{ index: 1, id: "b", type: "function", function: { name: "HassLightSet", arguments: '{"bright' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"name": "Küche' } }] }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: 'ness": 50}' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"}' } }] }),
  chunk({}, "tool_calls"),
  { id: "c", object: "chat.completion.chunk", created: 0, model: "m", choices: [], usage: { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 } },
]);

function streamOf(slices: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < slices.length) controller.enqueue(slices[i++]!);
      else controller.close();
    },
  });
}

/** Runs `bytes`, cut at `cuts`, through ndjsonFromSSE; returns the objects without their timing fields. */
async function translate(bytes: Uint8Array, cuts: number[]) {
  const slices: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    slices.push(bytes.slice(at, cut));
    at = cut;
  }
  const out = await new Response(ndjsonFromSSE(streamOf(slices), new OllamaStreamEncoder("chat", "m", performance.now()))).text();
  expect(out.endsWith("\n")).toBe(true);
  return out
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      const { created_at, total_duration, prompt_eval_duration, eval_duration, ...rest } = JSON.parse(line);
      if (!("error" in rest)) expect(created_at).toBeTypeOf("string");
      return rest;
    });
}

describe("NDJSONParser", () => {
  test("lines split anywhere, blank lines, multi-byte characters split between chunks", () => {
    const bytes = encoder.encode('{"a":"ü"}\n\n{"b":[1,2]}\n{"c":"👋"}');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new NDJSONParser();
      const values = [...parser.push(bytes.slice(0, cut)), ...parser.push(bytes.slice(cut)), ...parser.end()];
      expect(values).toEqual([{ a: "ü" }, { b: [1, 2] }, { c: "👋" }]);
    }
  });

  test("a line that is not JSON throws", () => {
    expect(() => new NDJSONParser().push("{nope}\n")).toThrow(SyntaxError);
  });
});

describe("OpenAI SSE -> Ollama NDJSON", () => {
  const bytes = encoder.encode(TRANSCRIPT);
  let whole: Record<string, unknown>[];

  beforeAll(async () => {
    whole = await translate(bytes, []);
  });

  test("tool-call fragments are buffered per index and emitted whole, arguments as objects", () => {
    expect(whole).toEqual([
      { model: "m", message: { role: "assistant", content: "", thinking: "Lights → on" }, done: false },
      { model: "m", message: { role: "assistant", content: "Grüße 👋 " }, done: false },
      { model: "m", message: { role: "assistant", content: "from the kitchen." }, done: false },
      {
        model: "m",
        message: {
          role: "assistant",
          content: "",
          tool_calls: [{ function: { name: "HassTurnOn", arguments: { name: "Küche" } } }, { function: { name: "HassLightSet", arguments: { brightness: 50 } } }],
        },
        done: false,
      },
      { model: "m", message: { role: "assistant", content: "" }, done: true, done_reason: "stop", load_duration: 0, prompt_eval_count: 11, eval_count: 22 },
    ]);
  });

  test("the same objects whatever the chunk boundaries: every single cut, and 1-byte slices", async () => {
    for (let cut = 1; cut < bytes.length; cut++) expect(await translate(bytes, [cut])).toEqual(whole);
    expect(await translate(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1))).toEqual(whole);
  });

  test("an error event ends the stream with an error line", async () => {
    const text = sse([chunk({ content: "partial" })]).replace("data: [DONE]\n\n", 'data: {"error":{"message":"upstream stream failed: reset","type":"upstream_error"}}\n\n');
    const lines = await translate(encoder.encode(text), []);
    expect(lines).toEqual([{ model: "m", message: { role: "assistant", content: "partial" }, done: false }, { error: "upstream stream failed: reset" }]);
  });
});

describe("Ollama NDJSON -> OpenAI SSE", () => {
  test("the same SSE events whatever the chunk boundaries", async () => {
    const lines = [
      { model: "m", created_at: "2025-01-01T00:00:00Z", message: { role: "assistant", content: "Grüße 👋" }, done: false },
      { model: "m", created_at: "2025-01-01T00:00:00Z", message: { role: "assistant", content: "", tool_calls: [{ function: { name: "HassTurnOn", arguments: { name: "Küche" } } }] }, done: false },
      { model: "m", created_at: "2025-01-01T00:00:00Z", message: { role: "assistant", content: "" }, done: true, done_reason: "stop", prompt_eval_count: 3, eval_count: 4 },
    ];
    const bytes = encoder.encode(lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const run = async (cut: number) => {
      const body = sseFromNDJSON(streamOf([bytes.slice(0, cut), bytes.slice(cut)]), new OpenAIChunkEncoder("m", "x", true));
      const parser = new SSEParser();
      // `created` is the encoder's clock (seconds): runs on either side of a second boundary differ there.
      return parser.push(await new Response(body).text()).map((d) => (d === "[DONE]" ? d : { ...JSON.parse(d), created: 0 }));
    };
    const whole = await run(0);
    expect(whole.at(-1)).toBe("[DONE]");
    expect(whole.at(-2).usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    expect(whole.at(-3).choices[0].finish_reason).toBe("tool_calls");
    const call = whole.find((e: any) => e.choices?.[0]?.delta?.tool_calls)!.choices[0].delta.tool_calls[0];
    expect(call).toMatchObject({ index: 0, type: "function", function: { name: "HassTurnOn", arguments: '{"name":"Küche"}' } });
    for (let cut = 1; cut < bytes.length; cut += 7) expect(await run(cut)).toEqual(whole);
  });
});

describe("end to end: an upstream writing odd byte slices", () => {
  let server: ReturnType<typeof Bun.serve>;
  let proxy: TestProxy;

  beforeAll(() => {
    const bytes = encoder.encode(TRANSCRIPT);
    // Cuts inside the `data:` prefix ("da|ta:"), inside JSON strings and numbers, inside "👋" and "ü".
    const marks = ["da", 'data: {"id":"c","obj', "Gr\u00fc", "👋", 'n": "K', "[DONE"];
    const text = TRANSCRIPT;
    const cuts = new Set<number>();
    let from = 0;
    for (const mark of marks) {
      const at = text.indexOf(mark, from);
      const byteAt = encoder.encode(text.slice(0, at)).length + Math.ceil(encoder.encode(mark).length / 2);
      cuts.add(byteAt);
      from = at + mark.length;
    }
    for (let i = 13; i < bytes.length; i += 37) cuts.add(i);
    const sorted = [...cuts].sort((a, b) => a - b);
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        if (new URL(req.url).pathname === "/v1/models") return Response.json({ object: "list", data: [{ id: "m", object: "model", created: 0, owned_by: "raw" }] });
        let i = 0;
        const stream = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (i > sorted.length) return controller.close();
            const start = i === 0 ? 0 : sorted[i - 1]!;
            const end = i < sorted.length ? sorted[i]! : bytes.length;
            i++;
            controller.enqueue(bytes.slice(start, end));
            // A pause so that slices leave as separate network chunks.
            await Bun.sleep(1);
          },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream" } });
      },
    });
    proxy = startProxy({ upstreams: [{ name: "raw", base_url: `http://127.0.0.1:${server.port}/v1`, max_retries: 0 }] });
  });
  afterAll(() => {
    proxy.stop();
    server.stop(true);
  });

  test("one valid object per line, content and tool calls intact", async () => {
    const res = await fetch(`${proxy.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) });
    const lines = (await res.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.every((l) => typeof l.message === "object")).toBe(true);
    expect(lines.map((l) => l.message.content).join("")).toBe("Grüße 👋 from the kitchen.");
    expect(lines.flatMap((l) => l.message.tool_calls ?? [])).toEqual([
      { function: { name: "HassTurnOn", arguments: { name: "Küche" } } },
      { function: { name: "HassLightSet", arguments: { brightness: 50 } } },
    ]);
    expect(lines.at(-1)).toMatchObject({ done: true, prompt_eval_count: 11, eval_count: 22 });
  });
});
