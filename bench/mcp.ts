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
import { EVERYTHING_JS, everythingStdio, startEverythingHttp, stopAllEverything } from "../test/fakes/mcp-everything.ts";

const { values: opts } = parseArgs({ options: { runs: { type: "string", default: "10" }, calls: { type: "string", default: "300" } } });
const RUNS = Number(opts.runs);
const CALLS = Number(opts.calls);
/** Ports of this helper's range (the HTTP servers cannot report a port they picked). */
const SSE_PORT = 20663;
const HTTP_PORT = 20664;
const WARMUP = 30;

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
const fmt = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);
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
    callRows.push([kind, name, fmt(p50), fmt(p95), ms === bare ? "" : `${p50 - base50 >= 0 ? "+" : ""}${fmt(p50 - base50)}`, ms === bare ? "" : `${p95 - base95 >= 0 ? "+" : ""}${fmt(p95 - base95)}`]);
  }
}

// Memory: four stdio servers connected at once.
Bun.gc(true);
const selfBefore = rssMiB("self");
const heapBefore = process.memoryUsage().heapUsed / 2 ** 20;
const mcp = new McpManager();
await quiet(async () => {
  mcp.configure(parseMcpConfig({ servers: Object.fromEntries([1, 2, 3, 4].map((i) => [`m${i}`, everythingStdio()])) }, "bench"));
  await mcp.ready(["m1", "m2", "m3", "m4"]);
});
await Bun.sleep(500);
Bun.gc(true);
const selfAfter = rssMiB("self");
const heapAfter = process.memoryUsage().heapUsed / 2 ** 20;
const childRss = ["m1", "m2", "m3", "m4"].map((n) => rssMiB(mcp.connection(n)!.status().pid!));
await mcp.close();
await stopAllEverything();

console.log(`MCP benchmark: ${RUNS} connects and ${CALLS} calls (after ${WARMUP} warm-up) per transport; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`);
console.log("Connect (start + initialize + tools/list), ms\n");
console.log(table(["transport", "median", "min", "max"], connectRows));
console.log("\nTool call get-sum, sequential, ms (added: over the bare SDK client on the same transport)\n");
console.log(table(["transport", "path", "p50", "p95", "added p50", "added p95"], callRows));
console.log("\nMemory per connected stdio server (server-everything under Bun), MiB\n");
console.log(
  table(
    ["server process RSS (median of 4)", "proxy JS heap growth per server", "proxy RSS growth per server"],
    [[fmt(percentile(childRss, 0.5)), fmt((heapAfter - heapBefore) / 4), fmt((selfAfter - selfBefore) / 4)]],
  ),
);
