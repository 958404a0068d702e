/**
 * The cheapest possible proxy in Bun, for the benchmarks' reference row: Bun.serve receives the
 * request, fetch() sends its bytes to the upstream unparsed, and the upstream's body is streamed
 * back. No routing, parsing, logging or retries. The gap between it and llm-proxy is llm-proxy's
 * own work; the gap between it and "direct" is the cost of one more HTTP hop through Bun on this
 * machine. `bun bench/bare-proxy.ts <upstream base URL> [--parse]` prints "listening on http://...".
 *
 * With `--parse` it also JSON.parses each body (and forwards the text it parsed), the one piece of
 * work every request costs llm-proxy that it cannot skip (to validate and route): the floor of a
 * proxy that reads the request.
 */
const upstream = process.argv[2];
if (!upstream) throw new Error("usage: bun bench/bare-proxy.ts <upstream base URL, e.g. http://127.0.0.1:9000/v1> [--parse]");
const parse = process.argv.includes("--parse");

/** The request's body, parsed (and the parse result dropped) when `--parse` is given. */
async function bodyOf(req: Request): Promise<ArrayBuffer | string> {
  if (!parse) return req.arrayBuffer();
  const text = await req.text();
  JSON.parse(text);
  return text;
}

const proxy = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname.replace(/^\/v1/, "");
    const res = await fetch(upstream + path, { method: req.method, body: await bodyOf(req), headers: { "content-type": "application/json" } });
    return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
  },
});
console.log(`listening on http://127.0.0.1:${proxy.port}`);
