/**
 * `GET /metrics`: the proxy's figures in the Prometheus text exposition format (version 0.0.4),
 * written by `prom-client` from its own registry (not the library's global one: every Runtime,
 * e.g. each test's proxy, counts for itself).
 *
 * The hot path pays one `observe(row)` per finished request (the request-log row, also when the log
 * is off): a few counter increments and two histogram observations. Gauges that describe state
 * (upstream and MCP server up, the request log's queue and failures) are read when scraped.
 *
 * prom-client is imported on the first finished request or scrape, not at start-up (~3.5 MiB of an
 * idle proxy's RSS, docs/benchmarks.md "Idle"); rows finished while it loads are counted once it has.
 */
import { Elysia } from "elysia";
import type { Registry } from "prom-client";
import type { Runtime } from "../runtime.ts";
import type { RequestLogRow } from "../store/request-log.ts";

/** Latency buckets, seconds: LLM replies run from tens of ms (cached, tiny) to minutes (long generations). */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Time-to-first-byte buckets, seconds: prompt processing runs from ms to a minute on a slow box. */
const TTFB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/**
 * Distinct values one label may take before the rest count as "other": model names and pass-through
 * paths come from clients, and an unbounded label is unbounded memory and scrape size.
 */
const MAX_LABEL_VALUES = 100;

/** Rows kept while prom-client loads (a few ms); beyond it they are not counted rather than held. */
const MAX_PENDING_ROWS = 10_000;

/** Bounds a client-chosen label (see MAX_LABEL_VALUES). */
class LabelCap {
  private readonly seen = new Set<string>();
  of(value: string | null | undefined): string {
    const v = value ?? "";
    if (this.seen.has(v)) return v;
    if (this.seen.size >= MAX_LABEL_VALUES) return "other";
    this.seen.add(v);
    return v;
  }
}

/** Estimated prompt tokens compression removed, when the row carries compression's columns. */
function compressionSaved(row: RequestLogRow): number {
  const r = row as unknown as Record<string, unknown>;
  const before = r.prompt_tokens_estimated;
  const after = r.prompt_tokens_estimated_after;
  return typeof before === "number" && typeof after === "number" ? Math.max(0, before - after) : 0;
}

type Prom = typeof import("prom-client");

/** The proxy's metric families in their own registry (see the module comment). */
export class Metrics {
  private readonly models = new LabelCap();
  private readonly endpoints = new LabelCap();
  private families: ReturnType<typeof buildFamilies> | undefined;
  private loading: Promise<ReturnType<typeof buildFamilies>> | undefined;
  private pending: RequestLogRow[] = [];

  /** @param runtime read when scraped, for the state gauges */
  constructor(private readonly runtime: Pick<Runtime, "state" | "requestLog" | "mcp">) {}

  /** The registry, built (prom-client imported) on first use. @throws Error when prom-client cannot be loaded */
  async registry(): Promise<Registry> {
    return (await this.load()).registry;
  }

  private load(): Promise<ReturnType<typeof buildFamilies>> {
    this.loading ??= import("prom-client").then((prom) => {
      this.families = buildFamilies(prom, this.runtime);
      for (const row of this.pending.splice(0)) this.observe(row);
      return this.families;
    });
    return this.loading;
  }

  /** Counts one finished request (queued while prom-client loads). Never throws (metrics fail open). */
  observe(row: RequestLogRow): void {
    const f = this.families;
    if (!f) {
      if (this.pending.length < MAX_PENDING_ROWS) this.pending.push(row);
      this.load().catch((err) => console.error(`llm-proxy: metrics: ${(err as Error).message}`));
      return;
    }
    try {
      const model = this.models.of(row.client_model ?? row.upstream_model);
      const endpoint = this.endpoints.of(row.endpoint);
      const upstream = row.upstream ?? "";
      f.requests.inc({ endpoint, model, upstream, status: String(row.status ?? "") });
      if (typeof row.latency_ms === "number") f.latency.observe({ endpoint, model, upstream }, row.latency_ms / 1000);
      if (typeof row.ttfb_ms === "number") f.ttfb.observe({ endpoint, model, upstream }, row.ttfb_ms / 1000);
      if (row.prompt_tokens) f.tokens.inc({ model, kind: "prompt" }, row.prompt_tokens);
      if (row.completion_tokens) f.tokens.inc({ model, kind: "completion" }, row.completion_tokens);
      const saved = (row.tool_tokens_before ?? 0) - (row.tool_tokens_after ?? 0);
      if (saved > 0) f.toolTokensSaved.inc({ model }, saved);
      const compressed = compressionSaved(row);
      if (compressed > 0) f.compressionTokensSaved.inc({ model }, compressed);
      if (row.selection_mode) f.selection.inc({ mode: row.selection_mode });
      if (row.retries) f.retries.inc({ upstream }, row.retries);
      for (const call of row.proxy_tool_calls ?? []) f.proxyToolCalls.inc({ outcome: call.ok ? "ok" : "error" });
    } catch (err) {
      console.error(`llm-proxy: metrics: ${(err as Error).message}`);
    }
  }
}

/** Builds the registry and its families; the gauges read `runtime` when scraped. */
function buildFamilies({ Counter, Gauge, Histogram, Registry }: Prom, runtime: Pick<Runtime, "state" | "requestLog" | "mcp">) {
  const registry = new Registry();
  const registers = [registry];
  const families = {
    registry,
    requests: new Counter({ name: "llm_proxy_requests_total", help: "Finished requests", labelNames: ["endpoint", "model", "upstream", "status"], registers }),
    latency: new Histogram({ name: "llm_proxy_request_duration_seconds", help: "Arrival to last byte sent", labelNames: ["endpoint", "model", "upstream"], buckets: LATENCY_BUCKETS, registers }),
    ttfb: new Histogram({ name: "llm_proxy_time_to_first_byte_seconds", help: "Arrival to the first body byte from the upstream", labelNames: ["endpoint", "model", "upstream"], buckets: TTFB_BUCKETS, registers }),
    tokens: new Counter({ name: "llm_proxy_tokens_total", help: "Tokens the upstream reported in usage", labelNames: ["model", "kind"], registers }),
    toolTokensSaved: new Counter({ name: "llm_proxy_tool_tokens_saved_total", help: "Tool-definition tokens (o200k_base) tool selection kept from the upstream", labelNames: ["model"], registers }),
    compressionTokensSaved: new Counter({ name: "llm_proxy_compression_tokens_saved_total", help: "Estimated prompt tokens compression removed", labelNames: ["model"], registers }),
    selection: new Counter({ name: "llm_proxy_tool_selection_total", help: "Requests with tools, by what tool selection ran", labelNames: ["mode"], registers }),
    retries: new Counter({ name: "llm_proxy_upstream_retries_total", help: "Retried upstream attempts", labelNames: ["upstream"], registers }),
    proxyToolCalls: new Counter({ name: "llm_proxy_proxy_tool_calls_total", help: "Calls of proxy-owned tools in the tool loop", labelNames: ["outcome"], registers }),
  };
  new Gauge({
    name: "llm_proxy_upstream_up",
    help: "1 when the upstream answered its last request or probe, 0 when it did not; absent before the first",
    labelNames: ["upstream"],
    registers,
    collect() {
      this.reset();
      for (const u of runtime.state.upstreams.list) if (u.health.reachable !== null) this.set({ upstream: u.name }, u.health.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: "llm_proxy_mcp_server_up",
    help: "1 when the MCP server is connected and ready, 0 when connecting, down, stopped or disabled",
    labelNames: ["server"],
    registers,
    collect() {
      this.reset();
      for (const [server, health] of Object.entries(runtime.mcp.health())) this.set({ server }, health.state === "ready" ? 1 : 0);
    },
  });
  new Gauge({
    name: "llm_proxy_request_log_queue_depth",
    help: "Request-log rows waiting for the log's Worker",
    registers,
    collect() {
      this.set(runtime.requestLog?.queued ?? 0);
    },
  });
  new Gauge({
    name: "llm_proxy_request_log_failed_rows",
    help: "Request-log rows that could not be written since start",
    registers,
    collect() {
      this.set(runtime.requestLog?.failures ?? 0);
    },
  });
  return families;
}

/** `GET /metrics` (an admin surface: auth in app.ts). */
export function metricsRoutes(runtime: Runtime) {
  return new Elysia({ name: "metrics" }).get("/metrics", async () => {
    const registry = await runtime.metrics.registry();
    return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
  });
}
