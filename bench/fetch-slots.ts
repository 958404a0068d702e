/**
 * How many upstream requests the proxy runs at once, with Bun's default fetch limit and with
 * BUN_CONFIG_MAX_HTTP_REQUESTS set as deploy/llm-proxy.service sets it (docs/security.md, "Limits").
 * N clients at once send a chat request through the proxy (its own process) to an upstream in this
 * process that holds each request HOLD_MS before answering; reported: the most requests the
 * upstream saw at once (load-independent), and the clients' time to response headers.
 *
 *   BUN_CONFIG_MAX_HTTP_REQUESTS=4096 bun bench/fetch-slots.ts [--clients 500]
 *
 * (This process's own fetch must not be the limit, hence the variable on the command line.)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { startServer } from "./process.ts";

const HOLD_MS = 1_000;
const { values: opts } = parseArgs({ options: { clients: { type: "string", default: "500" } } });
const CLIENTS = Number(opts.clients);
if (Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? 256) < CLIENTS) {
  console.error(`run with BUN_CONFIG_MAX_HTTP_REQUESTS >= ${CLIENTS}: this process's own fetch must not be the limit`);
  process.exit(2);
}

let live = 0;
let peak = 0;
const upstream = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    if (new URL(req.url).pathname.endsWith("/models")) return Response.json({ object: "list", data: [{ id: "m", object: "model", created: 0, owned_by: "x" }] });
    await req.text();
    peak = Math.max(peak, ++live);
    await Bun.sleep(HOLD_MS);
    live--;
    return Response.json({ id: "x", object: "chat.completion", created: 0, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
  },
});

const dir = mkdtempSync(join(tmpdir(), "llm-proxy-slots-"));
writeFileSync(join(dir, "llm-proxy.yaml"), stringify({ log: { requests: false }, upstreams: [{ name: "u", base_url: `http://127.0.0.1:${upstream.port}/v1`, models: ["m"], max_retries: 0 }] }));
const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });

console.log(`# ${CLIENTS} clients at once, upstream holds each request ${HOLD_MS} ms; load average ${loadavg()[0]!.toFixed(1)}\n`);
console.log("| BUN_CONFIG_MAX_HTTP_REQUESTS of the proxy | most upstream requests at once | headers p50 ms | headers max ms |");
console.log("|---|---:|---:|---:|");
// 256 is Bun's default, set explicitly because the child inherits this process's own value.
for (const limit of ["256", "2048"]) {
  const env: Record<string, string> = { ORT_DISABLE_TELEMETRY: "1", NODE_ENV: "production" };
  const proxy = await startServer(["bun", join(import.meta.dir, "..", "index.ts"), "--config", join(dir, "llm-proxy.yaml"), "--port", "0", "--data-dir", join(dir, "data")], { ...env, BUN_CONFIG_MAX_HTTP_REQUESTS: limit });
  peak = 0;
  const times = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const started = performance.now();
      const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      const ms = performance.now() - started;
      await res.text();
      return ms;
    }),
  );
  times.sort((a, b) => a - b);
  console.log(`| ${limit} | ${peak} | ${times[Math.floor(times.length / 2)]!.toFixed(0)} | ${times.at(-1)!.toFixed(0)} |`);
  await proxy.stop();
}
upstream.stop(true);
rmSync(dir, { recursive: true, force: true });
