/**
 * Reads the request log for the dashboard (src/server/dashboard.ts): the latest rows with filters,
 * one row whole, and the figures of the overview over a window. A read-only bun:sqlite connection,
 * used in the reader's Worker (request-log-reader-worker.ts): WAL lets it read while the writer
 * writes, and a slow read (a week's stats) never blocks the event loop that serves requests.
 *
 * Rows are read with `SELECT *`, so columns added by later migrations reach the detail view without
 * a change here; JSON columns (text starting with `[` or `{`) are parsed. A row's tool_decisions
 * come from its shared list (tool_decision_lists, ROW_SQL) or, in rows written before that table,
 * from the row itself.
 */
import { Database } from "bun:sqlite";
import type { Stats, StatsBucket, StatsWindow } from "./request-log-stats.ts";

/** Columns of the live table (the detail view gets every column). */
const LIST_COLUMNS = [
  "id", "ts", "request_id", "endpoint", "method", "client_model", "upstream", "upstream_model", "status", "latency_ms",
  "ttfb_ms", "stream", "prompt_tokens", "completion_tokens", "retries", "error", "tools_received", "tool_tokens_before",
  "tool_tokens_after", "selection_mode", "tool_rounds",
];

/** Columns that only say where something is stored; rows are read without them (withDecisions). */
const STORAGE_COLUMNS = new Set(["tool_decisions_id"]);

/**
 * Every column of `requests` plus `shared_tool_decisions`, the JSON text of the list the row's
 * tool_decisions_id names (migrations.ts); append `WHERE` / `ORDER BY` on `requests.` columns.
 * Read its rows through withDecisions().
 */
export const ROW_SQL =
  "SELECT requests.*, tool_decision_lists.decisions AS shared_tool_decisions FROM requests LEFT JOIN tool_decision_lists ON tool_decision_lists.id = requests.tool_decisions_id";

/**
 * A row of ROW_SQL as the log's row: tool_decisions (JSON text) from the shared list when it names
 * one, else the row's own (rows written before the shared lists); the storage columns dropped.
 */
export function withDecisions(row: Record<string, unknown>): Record<string, unknown> {
  const { shared_tool_decisions: shared, ...rest } = row;
  for (const c of STORAGE_COLUMNS) delete rest[c];
  if (shared !== null && shared !== undefined) rest.tool_decisions = shared;
  return rest;
}

export interface RowFilter {
  /** Only rows with a larger id (the live table's polling). */
  after?: number;
  /** Only rows with a smaller id (paging back). */
  before?: number;
  model?: string;
  upstream?: string;
  endpoint?: string;
  /** An exact status (`200`), a class (`2xx`, `4xx`, `5xx`), or `error` (>= 400). */
  status?: string;
  /** At most this many rows, newest first (capped at 500). */
  limit?: number;
}

/** Rows the filters' choices come from: the recent traffic, read by id (a week's scan takes seconds at 100k rows). */
const FACET_ROWS = 5_000;

/** Window length and bucket width, ms: 60 points an hour, 96 a day, 84 a week. */
const WINDOWS: Record<StatsWindow, { span: number; bucket: number }> = {
  hour: { span: 3_600_000, bucket: 60_000 },
  day: { span: 86_400_000, bucket: 900_000 },
  week: { span: 7 * 86_400_000, bucket: 7_200_000 },
};

interface StatsRow {
  ts: number;
  status: number | null;
  latency_ms: number | null;
  ttfb_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  tool_saved: number | null;
  compression_saved: number | null;
  model: string | null;
}

/** The value at quantile `q` (nearest rank) of ascending `sorted`, or null when empty. */
function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The figures of a group of rows. */
function summarize(rows: StatsRow[]) {
  const latencies = rows.flatMap((r) => (r.latency_ms === null ? [] : [r.latency_ms])).sort((a, b) => a - b);
  const ttfbs = rows.flatMap((r) => (r.ttfb_ms === null ? [] : [r.ttfb_ms])).sort((a, b) => a - b);
  const sum = (f: (r: StatsRow) => number | null) => rows.reduce((n, r) => n + (f(r) ?? 0), 0);
  return {
    requests: rows.length,
    errors: rows.filter((r) => (r.status ?? 0) >= 400).length,
    latency_p50: quantile(latencies, 0.5),
    latency_p95: quantile(latencies, 0.95),
    ttfb_p50: quantile(ttfbs, 0.5),
    ttfb_p95: quantile(ttfbs, 0.95),
    prompt_tokens: sum((r) => r.prompt_tokens),
    completion_tokens: sum((r) => r.completion_tokens),
    tool_tokens_saved: sum((r) => r.tool_saved),
    compression_tokens_saved: sum((r) => r.compression_saved),
  };
}

/** A stored value as the dashboard shows it: JSON text parsed, the rest as is. */
function decode(value: unknown): unknown {
  if (typeof value !== "string" || !/^[[{]/.test(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export class RequestLogReader {
  private db: Database | undefined;

  /** @param path the request log's SQLite file (created and migrated by RequestLog) */
  constructor(readonly path: string) {}

  private get database(): Database {
    if (!this.db) {
      this.db = new Database(this.path, { readonly: true });
      this.db.exec("PRAGMA busy_timeout = 2000");
    }
    return this.db;
  }

  /** The log's column names, in order (those only saying where something is stored left out). */
  columns(): string[] {
    return (this.database.query("PRAGMA table_info(requests)").all() as { name: string }[]).map((c) => c.name).filter((c) => !STORAGE_COLUMNS.has(c));
  }

  /** The latest rows matching `filter`, newest first, with the live table's columns. */
  list(filter: RowFilter = {}): Record<string, unknown>[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (sql: string, ...values: (string | number)[]) => {
      where.push(sql);
      params.push(...values);
    };
    if (filter.after !== undefined) add("id > ?", filter.after);
    if (filter.before !== undefined) add("id < ?", filter.before);
    if (filter.model) add("client_model = ?", filter.model);
    if (filter.upstream) add("upstream = ?", filter.upstream);
    if (filter.endpoint) add("endpoint = ?", filter.endpoint);
    const status = filter.status?.trim().toLowerCase();
    if (status === "error") add("status >= 400");
    else if (status && /^[1-5]xx$/.test(status)) add("status >= ? AND status < ?", Number(status[0]) * 100, Number(status[0]) * 100 + 100);
    else if (status && /^\d{3}$/.test(status)) add("status = ?", Number(status));
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 100), 1), 500);
    const sql = `SELECT ${LIST_COLUMNS.join(", ")}, tools_kept FROM requests ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ${limit}`;
    return (this.database.query(sql).all(...params) as Record<string, unknown>[]).map((row) => {
      const kept = decode(row.tools_kept);
      const { tools_kept: _, ...rest } = row;
      return { ...rest, tools_kept: Array.isArray(kept) ? kept.length : null };
    });
  }

  /** Every column of row `id`, JSON columns parsed; undefined when there is no such row. */
  get(id: number): Record<string, unknown> | undefined {
    const row = this.database.query(`${ROW_SQL} WHERE requests.id = ?`).get(id) as Record<string, unknown> | null;
    if (!row) return undefined;
    return Object.fromEntries(Object.entries(withDecisions(row)).map(([k, v]) => [k, decode(v)]));
  }

  /** Distinct models, upstreams and endpoints of the latest FACET_ROWS rows, for the table's filters. */
  facets(): { models: string[]; upstreams: string[]; endpoints: string[] } {
    const distinct = (column: string) =>
      (this.database.query(`SELECT DISTINCT ${column} AS v FROM (SELECT ${column} FROM requests ORDER BY id DESC LIMIT ${FACET_ROWS}) WHERE v IS NOT NULL ORDER BY v LIMIT 200`).all() as { v: string }[]).map((r) => r.v);
    return { models: distinct("client_model"), upstreams: distinct("upstream"), endpoints: distinct("endpoint") };
  }

  /** The overview's time series and per-model figures over the last `window`. */
  stats(window: StatsWindow, now = Date.now()): Stats {
    const { span, bucket } = WINDOWS[window];
    const to = Math.ceil(now / bucket) * bucket;
    const from = to - span;
    const columns = new Set(this.columns());
    // Compression's columns come with its migration; a log without them has saved nothing.
    const compression = columns.has("prompt_tokens_estimated") && columns.has("prompt_tokens_estimated_after")
      ? "MAX(prompt_tokens_estimated - prompt_tokens_estimated_after, 0)"
      : "NULL";
    const rows = this.database
      .query(
        `SELECT ts, status, latency_ms, ttfb_ms, prompt_tokens, completion_tokens,
           MAX(tool_tokens_before - tool_tokens_after, 0) AS tool_saved, ${compression} AS compression_saved,
           COALESCE(client_model, upstream_model) AS model
         FROM requests WHERE ts >= ? AND ts < ? ORDER BY ts`,
      )
      .all(from, to) as StatsRow[];
    const byBucket = new Map<number, StatsRow[]>();
    const byModel = new Map<string, StatsRow[]>();
    for (const row of rows) {
      const t = Math.floor(row.ts / bucket) * bucket;
      const model = row.model ?? "(none)";
      if (!byBucket.has(t)) byBucket.set(t, []);
      if (!byModel.has(model)) byModel.set(model, []);
      byBucket.get(t)!.push(row);
      byModel.get(model)!.push(row);
    }
    const buckets: StatsBucket[] = [];
    for (let t = from; t < to; t += bucket) buckets.push({ t, ...summarize(byBucket.get(t) ?? []) });
    const models = [...byModel].map(([model, group]) => ({ model, ...summarize(group) })).sort((a, b) => b.requests - a.requests);
    return { window, from, to, bucket_ms: bucket, buckets, models };
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
