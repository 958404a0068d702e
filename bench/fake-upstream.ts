/**
 * A lean OpenAI-compatible upstream for benchmarks, run as its own process:
 * `bun bench/fake-upstream.ts [port]` prints "listening on http://127.0.0.1:PORT/v1".
 *
 * Why not test/fakes/openai-upstream.ts: that one records every request (14 KB bodies piling up
 * under load mean growing memory and GC pauses) and parses and re-serialises per request. This one
 * reads the body, decides stream or not with a string search, and answers from prebuilt bytes, so
 * its cost is small and constant and both the direct and the proxied runs pay the same.
 * Streams are 20 content chunks plus the finish and usage chunks, each enqueued separately.
 */
const CHUNKS = 20;
const encoder = new TextEncoder();
const base = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1_700_000_000, model: "bench-model" };
const usage = { prompt_tokens: 3900, completion_tokens: 40, total_tokens: 3940 };
const words = Array.from({ length: CHUNKS }, (_, i) => `word${i} `);

const completion = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "bench-model",
  choices: [{ index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "stop" }],
  usage,
});
const events = [
  { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
  ...words.map((content) => ({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] })),
  { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  { ...base, choices: [], usage },
].map((e) => encoder.encode(`data: ${JSON.stringify(e)}\n\n`));
events.push(encoder.encode("data: [DONE]\n\n"));
const models = JSON.stringify({ object: "list", data: [{ id: "bench-model", object: "model", created: 0, owned_by: "bench" }] });

function stream(): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(events[i++]!);
      if (i === events.length) controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path.endsWith("/models")) return new Response(models, { headers: { "content-type": "application/json" } });
    const body = await req.text();
    if (body.includes('"stream":true')) return stream();
    return new Response(completion, { headers: { "content-type": "application/json" } });
  },
});
console.log(`listening on http://127.0.0.1:${server.port}/v1`);
