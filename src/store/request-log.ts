/**
 * The request log: one row per request in SQLite (bun:sqlite, WAL), written off the hot path.
 *
 * `record()` only queues the row; a timer writes the queue in one transaction every
 * `flush_interval_ms`. Errors while writing are reported once on stderr and counted, never thrown
 * to a request. Old rows are pruned by age and count after each flush (at most once a minute).
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS } from "./migrations.ts";

export interface RequestLogRow {
  ts: number;
  request_id: string;
  endpoint: string;
  method: string;
  client_model?: string | null;
  upstream?: string | null;
  upstream_model?: string | null;
  status?: number | null;
  latency_ms?: number | null;
  ttfb_ms?: number | null;
  stream?: boolean;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  finish_reason?: string | null;
  retries?: number;
  error?: string | null;
  tools_received?: number | null;
  tools_kept?: string[] | null;
  tool_tokens_before?: number | null;
  tool_tokens_after?: number | null;
  selection_mode?: string | null;
  selection_ms?: number | null;
  request_body?: string | null;
  response_body?: string | null;
}

const COLUMNS = [
  "ts", "request_id", "endpoint", "method", "client_model", "upstream", "upstream_model", "status",
  "latency_ms", "ttfb_ms", "stream", "prompt_tokens", "completion_tokens", "finish_reason", "retries",
  "error", "tools_received", "tools_kept", "tool_tokens_before", "tool_tokens_after", "selection_mode",
  "selection_ms", "request_body", "response_body",
] as const;

/** Values for the NOT NULL columns a row may leave unset (see migrations.ts). */
const NOT_NULL_DEFAULTS: Partial<Record<(typeof COLUMNS)[number], number>> = { stream: 0, retries: 0 };

export interface RequestLogOptions {
  /** Directory holding `llm-proxy.sqlite`; ":memory:" for an in-memory database. */
  dataDir: string;
  flushIntervalMs?: number;
  retentionDays?: number;
  retentionRows?: number;
}

/** Opens (and migrates) the database at `path`. */
export function openDatabase(path: string): Database {
  const db = new Database(path, { create: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;");
  const { user_version } = db.query("PRAGMA user_version").get() as { user_version: number };
  for (let v = user_version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
  return db;
}

export class RequestLog {
  readonly db: Database;
  readonly path: string;
  /** Rows that could not be written. */
  failures = 0;
  private queue: RequestLogRow[] = [];
  private timer: ReturnType<typeof setInterval>;
  private lastPrune = 0;
  private warned = false;
  private readonly insert;

  /** @throws when the data directory or database cannot be created (a start-up error) */
  constructor(private readonly options: RequestLogOptions) {
    if (options.dataDir === ":memory:") this.path = ":memory:";
    else {
      mkdirSync(options.dataDir, { recursive: true });
      this.path = join(options.dataDir, "llm-proxy.sqlite");
    }
    this.db = openDatabase(this.path);
    this.insert = this.db.prepare(
      `INSERT INTO requests (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`,
    );
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref?.();
  }

  /** Queues a row; never throws. */
  record(row: RequestLogRow): void {
    this.queue.push(row);
  }

  /** Writes the queued rows in one transaction. Called by the timer; call it yourself to read back at once. */
  flush(): void {
    if (this.queue.length === 0) return;
    const rows = this.queue;
    this.queue = [];
    try {
      this.db.transaction(() => {
        for (const row of rows) {
          this.insert.run(
            ...COLUMNS.map((c) => {
              const v = row[c];
              // NOT NULL columns: one row without them must not lose the whole batch.
              if (v === undefined || v === null) return NOT_NULL_DEFAULTS[c] ?? null;
              if (typeof v === "boolean") return v ? 1 : 0;
              if (Array.isArray(v)) return JSON.stringify(v);
              return v;
            }),
          );
        }
      })();
      this.prune();
    } catch (err) {
      this.failures += rows.length;
      if (!this.warned) {
        this.warned = true;
        console.error(`llm-proxy: request log write failed (${(err as Error).message}); requests are not affected`);
      }
    }
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    const { retentionDays, retentionRows } = this.options;
    if (retentionDays) this.db.run("DELETE FROM requests WHERE ts < ?", [now - retentionDays * 86_400_000]);
    if (retentionRows) {
      this.db.run("DELETE FROM requests WHERE id <= (SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?)", [retentionRows]);
    }
  }

  /** Flushes and closes the database. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.db.close();
  }
}
