/**
 * MCP benchmarks (`bun bench/mcp.ts`; results in docs/mcp.md), with the real reference server
 * (@modelcontextprotocol/server-everything) over stdio, SSE and Streamable HTTP on loopback:
 *
 * - connect time per transport: start (stdio: spawn), initialize and the first tools/list, as the
 *   proxy does it (McpManager), `--runs` times;
 * - tool call time (get-sum, sequential, after a warm-up): the bare SDK client over the same
 *   transport (the server's own time plus the transport: the floor), our McpToolSource.call
 *   (argument validation, name lookup, result conversion, stats) and runTool (the tool loop's and
 *   templates' entry: timeout and signal bounds). The differences are what the proxy adds per call;
 * - the same call through the tool loop: an augmented model, a fake LLM that calls get-sum and then
 *   answers, the loop's own timing of the call (request log) against the bare client;
 * - memory per connected stdio server: the server process's RSS and the proxy's own RSS growth
 *   per connection.
 *
 *   bun bench/mcp.ts [--runs 10] [--calls 300]
 */
import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { parseMcpConfig } from "../src/config/mcp.ts";
import { McpManager } from "../src/tools/mcp/manager.ts";
import { BunStdioTransport } from "../src/tools/mcp/stdio.ts";
import { runTool } from "../src/tools/registry.ts";
import { stringify } from "yaml";
import { EVERYTHING_JS, everythingStdio, startEverythingHttp, stopAllEverything } from "../test/fakes/mcp-everything.ts";
import { FakeOpenAIUpstream } from "../test/fakes/openai-upstream.ts";
import { startProxy } from "../test/fakes/proxy.ts";

const { values: opts } = parseArgs({ options: { runs: { type: "string", default: "10" }, calls: { type: "string", default: "300" } } });
const RUNS = Number(opts.runs);
const CALLS = Number(opts.calls);
/** Ports of this helper's range (the HTTP servers cannot report a port they picked). */
const SSE_PORT = 20663;
const HTTP_PORT = 20664;
const WARMUP = 30;
const MEMORY_SERVERS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"];

const quiet = <T>(fn: () => Promise<T>): Promise<T> => {
  // The proxy logs every connect; a benchmark table should not drown in them.
  const { log, error } = console;
  console.log = console.error = () => {};
  return fn().finally(() => Object.assign(console, { log, error }));
};

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
const fmt = (ms: number) => ms.toFixed(Math.abs(ms) < 10 ? 2 : 1);
const signed = (ms: number) => `${ms >= 0 ? "+" : ""}${fmt(ms)}`;
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

type Kind = "stdio" | "sse" | "streamablehttp";
const servers: Record<Kind, Record<string, unknown>> = {
  stdio: everythingStdio(),
  sse: { type: "sse", url: `http://127.0.0.1:${SSE_PORT}/sse` },
  streamablehttp: { type: "streamablehttp", url: `http://127.0.0.1:${HTTP_PORT}/mcp` },
};

function bareTransport(kind: Kind): Transport {
  if (kind === "stdio") return new BunStdioTransport({ command: process.execPath, args: [EVERYTHING_JS, "stdio"] });
  if (kind === "sse") return new SSEClientTransport(new URL(`http://127.0.0.1:${SSE_PORT}/sse`));
  return new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${HTTP_PORT}/mcp`));
}

async function timeCalls(call: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await call(i);
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    await call(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

const rssMiB = (pid: number | "self") => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

await startEverythingHttp("sse", SSE_PORT);
await startEverythingHttp("streamableHttp", HTTP_PORT);
const loadBefore = loadavg()[0]!;

const connectRows: string[][] = [];
const bareCalls = new Map<Kind, number[]>();
const callRows: string[][] = [];
for (const kind of ["stdio", "sse", "streamablehttp"] as Kind[]) {
  const connects: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const mcp = new McpManager();
    await quiet(async () => {
      mcp.configure(parseMcpConfig({ servers: { s: servers[kind] } }, "bench"));
      await mcp.ready(["s"]);
    });
    connects.push(mcp.connection("s")!.status().connect_ms!);
    await mcp.close();
  }
  connectRows.push([kind, fmt(percentile(connects, 0.5)), fmt(Math.min(...connects)), fmt(Math.max(...connects))]);

  const client = new Client({ name: "bench", version: "1" });
  await quiet(() => client.connect(bareTransport(kind)));
  const bare = await timeCalls((i) => client.callTool({ name: "get-sum", arguments: { a: i, b: 1 } }));
  bareCalls.set(kind, bare);
  await client.close();

  const mcp = new McpManager();
  await quiet(async () => {
    mcp.configure(parseMcpConfig({ servers: { s: servers[kind] } }, "bench"));
    await mcp.ready(["s"]);
  });
  const source = mcp.source("s");
  const direct = await timeCalls((i) => source.call("mcp_s_get-sum", { a: i, b: 1 }, { timeoutMs: 10_000 }));
  const looped = await timeCalls((i) => runTool(source, "mcp_s_get-sum", { a: i, b: 1 }, { timeoutMs: 10_000 }));
  await mcp.close();
  for (const [name, ms] of [["bare SDK client", bare], ["McpToolSource.call", direct], ["runTool (loop, templates)", looped]] as const) {
    const p50 = percentile(ms, 0.5);
    const p95 = percentile(ms, 0.95);
    const base50 = percentile(bare, 0.5);
    const base95 = percentile(bare, 0.95);
    callRows.push([kind, name, fmt(p50), fmt(p95), ms === bare ? "" : signed(p50 - base50), ms === bare ? "" : signed(p95 - base95)]);
  }
}

// Through the tool loop: an augmented model per transport, a fake LLM that calls get-sum once and
// then answers; the loop's own timing of each call (request log `proxy_tool_calls[].ms`).
const upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
const files: Record<string, string> = { "mcp/servers.yaml": stringify({ servers }) };
for (const kind of Object.keys(servers)) files[`models/${kind}.yml`] = stringify({ name: `bench/${kind}`, upstream_model: "fake/fake-model", mcp_servers: [kind], include_global_skills: false });
const proxy = await quiet(async () => {
  const p = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }], selection: { mode: "off" }, log: { flush_interval_ms: 50 } }, {}, files);
  await p.runtime.mcp.ready(Object.keys(servers));
  return p;
});
const loopRows: string[][] = [];
for (const kind of Object.keys(servers) as Kind[]) {
  const request = async (i: number) => {
    upstream.script.push({ toolCalls: [{ name: `mcp_${kind}_get-sum`, arguments: { a: i, b: 1 } }] }, { content: "ok" });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: `bench/${kind}`, messages: [{ role: "user", content: "sum" }] }) });
    await res.arrayBuffer();
    upstream.requests.length = 0;
  };
  const firstRow = proxy.rows().length;
  const wall = await timeCalls(request);
  const rows = proxy.rows().slice(firstRow + WARMUP);
  const loopMs = rows.map((r) => (JSON.parse(r.proxy_tool_calls as unknown as string) as { ms: number }[])[0]!.ms);
  const bare = bareCalls.get(kind)!;
  loopRows.push([
    kind, fmt(percentile(bare, 0.5)), fmt(percentile(bare, 0.95)), fmt(percentile(loopMs, 0.5)), fmt(percentile(loopMs, 0.95)),
    signed(percentile(loopMs, 0.5) - percentile(bare, 0.5)), signed(percentile(loopMs, 0.95) - percentile(bare, 0.95)), fmt(percentile(wall, 0.5)),
  ]);
}
await proxy.runtime.mcp.close();
proxy.stop();
upstream.stop();

// Memory: eight stdio servers connected at once (more servers: less RSS noise per server).
Bun.gc(true);
const selfBefore = rssMiB("self");
const heapBefore = process.memoryUsage().heapUsed / 2 ** 20;
const mcp = new McpManager();
await quiet(async () => {
  mcp.configure(parseMcpConfig({ servers: Object.fromEntries(MEMORY_SERVERS.map((name) => [name, everythingStdio()])) }, "bench"));
  await mcp.ready(MEMORY_SERVERS);
});
await Bun.sleep(500);
Bun.gc(true);
const selfAfter = rssMiB("self");
const heapAfter = process.memoryUsage().heapUsed / 2 ** 20;
const childRss = MEMORY_SERVERS.map((n) => rssMiB(mcp.connection(n)!.status().pid!));
await mcp.close();

// The same server under Node, when it is installed (what `npx` would run).
let nodeRss: number | undefined;
if (Bun.which("node")) {
  const viaNode = new McpManager();
  await quiet(async () => {
    viaNode.configure(parseMcpConfig({ servers: Object.fromEntries(MEMORY_SERVERS.map((name) => [name, { command: "node", args: [EVERYTHING_JS, "stdio"] }])) }, "bench"));
    await viaNode.ready(MEMORY_SERVERS);
  });
  await Bun.sleep(500);
  nodeRss = percentile(MEMORY_SERVERS.map((n) => rssMiB(viaNode.connection(n)!.status().pid!)), 0.5);
  await viaNode.close();
}
await stopAllEverything();

console.log(`MCP benchmark: ${RUNS} connects and ${CALLS} calls (after ${WARMUP} warm-up) per transport; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`);
console.log("Connect (start + initialize + tools/list), ms\n");
console.log(table(["transport", "median", "min", "max"], connectRows));
console.log("\nTool call get-sum, sequential, ms (added: over the bare SDK client on the same transport)\n");
console.log(table(["transport", "path", "p50", "p95", "added p50", "added p95"], callRows));
console.log("\nThrough the tool loop: one get-sum call per chat request (fake LLM), ms; the loop's own timing of the call against the bare SDK client\n");
console.log(table(["transport", "bare p50", "bare p95", "loop p50", "loop p95", "added p50", "added p95", "whole request p50 (2 LLM calls + tool)"], loopRows));
console.log("\nMemory per connected stdio server (server-everything), MiB\n");
console.log(
  table(
    ["server process RSS under Bun (median of 8)", "under Node", "proxy JS heap growth per server", "proxy RSS growth per server"],
    [[fmt(percentile(childRss, 0.5)), nodeRss === undefined ? "no node" : fmt(nodeRss), fmt((heapAfter - heapBefore) / MEMORY_SERVERS.length), fmt((selfAfter - selfBefore) / MEMORY_SERVERS.length)]],
  ),
);
