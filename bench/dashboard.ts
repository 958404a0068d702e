/**
 * The dashboard's costs: the hot path's `Metrics.observe(row)` per finished request, a /metrics
 * scrape, and the request-log reads the page makes (the live table's poll, a row's detail, the
 * overview's stats) over a log of N rows. Prints a table; results in docs/dashboard.md.
 *
 *   bun bench/dashboard.ts [--rows 100000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Metrics } from "../src/server/metrics.ts";
import { pageSize } from "../src/ui/page.ts";
import { RequestLogReader } from "../src/store/request-log-reader.ts";
import { RequestLogWriter, rowValues } from "../src/store/request-log-writer.ts";
import type { RequestLogRow } from "../src/store/request-log.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "100000" } } });
const ROWS = Number(values.rows);
const WEEK = 7 * 86_400_000;

/** A chat row as the proxy writes one, `i` spreading it over the last week and over 4 models. */
function row(i: number, now: number): RequestLogRow {
  const decisions = Array.from({ length: 40 }, (_, t) => ({ name: `tool_${t}`, rank: t + 1, lexical: 0.5, semantic: 0.3, fused: 0.4, kept: t < 8, reason: t < 8 ? `rank ${t + 1}` : "not in the top keep" }));
  return {
    ts: now - Math.floor((i / ROWS) * WEEK), request_id: crypto.randomUUID(), endpoint: "/api/chat", method: "POST", client_model: `model-${i % 4}`,
    upstream: "gpu", upstream_model: `model-${i % 4}`, status: i % 50 === 0 ? 502 : 200, latency_ms: 200 + (i % 900), ttfb_ms: 80 + (i % 300), stream: true,
    prompt_tokens: 3000, completion_tokens: 40, retries: 0, tools_received: 40, tools_kept: decisions.filter((d) => d.kept).map((d) => d.name),
    tool_tokens_before: 4200, tool_tokens_after: 900, selection_mode: "hybrid", selection_ms: 3, tool_decisions: decisions,
  };
}

/** Mean ms of `fn` over `n` runs. */
function time(n: number, fn: () => unknown): number {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t) / n;
}

const now = Date.now();
const fakeRuntime = { state: { upstreams: { list: [] } }, requestLog: undefined, mcp: { health: () => ({}) } } as never;
const metrics = new Metrics(fakeRuntime);
const sample = row(1, now);
const registry = await metrics.registry(); // prom-client loads on first use
time(10_000, () => metrics.observe(sample));
const observeUs = time(100_000, () => metrics.observe(sample)) * 1000;
const scrapeMs = await (async () => {
  const t = performance.now();
  for (let i = 0; i < 20; i++) await registry.metrics();
  return (performance.now() - t) / 20;
})();

const dir = mkdtempSync(join(tmpdir(), "llm-proxy-bench-dashboard-"));
const path = join(dir, "llm-proxy.sqlite");
const writer = new RequestLogWriter(path, {});
for (let i = 0; i < ROWS; i += 1000) writer.write(Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => rowValues(row(i + k, now))));
writer.close();
const reader = new RequestLogReader(path);
const latest = reader.list({ limit: 1 })[0]!.id as number;
const results: [string, string][] = [
  ["Metrics.observe(row), hot path", `${observeUs.toFixed(2)} µs`],
  ["GET /metrics body (4 models)", `${scrapeMs.toFixed(2)} ms`],
  ["poll: list(after = latest)", `${time(200, () => reader.list({ after: latest })).toFixed(2)} ms`],
  ["first page: list(limit 200)", `${time(50, () => reader.list({ limit: 200 })).toFixed(2)} ms`],
  ["filtered page: list(status error)", `${time(20, () => reader.list({ status: "error", limit: 200 })).toFixed(2)} ms`],
  ["detail: get(id)", `${time(200, () => reader.get(latest)).toFixed(2)} ms`],
  ["stats(hour)", `${time(20, () => reader.stats("hour", now)).toFixed(1)} ms`],
  ["stats(day)", `${time(5, () => reader.stats("day", now)).toFixed(1)} ms`],
  ["stats(week)", `${time(3, () => reader.stats("week", now)).toFixed(1)} ms`],
  ["facets()", `${time(5, () => reader.facets()).toFixed(1)} ms`],
  ["page /ui, raw / gzip", `${(pageSize().bytes / 1024).toFixed(1)} KiB / ${(pageSize().gzip / 1024).toFixed(1)} KiB`],
];
reader.close();
rmSync(dir, { recursive: true, force: true });
console.log(`dashboard costs, ${ROWS.toLocaleString("en")} rows over a week (40 tools each)\n`);
console.log("| what | cost |\n| --- | --- |");
for (const [what, cost] of results) console.log(`| ${what} | ${cost} |`);
