/**
 * Writes request-log rows to SQLite (bun:sqlite, WAL): opening and migrating the database, inserting
 * batches in one transaction, and pruning by age and count (at most once a minute). Runs in the
 * request log's Worker (request-log-worker.ts), off the event loop that serves requests.
 *
 * A row's tool_decisions are stored once per distinct list (table tool_decision_lists, keyed by the
 * SHA-256 of the JSON text; migrations.ts): the row gets the list's id in tool_decisions_id, and
 * pruning deletes the lists no row names. Readers put the list back (request-log-reader.ts, ROW_SQL).
 */
import { Database } from "bun:sqlite";
import { MIGRATIONS } from "./migrations.ts";
import type { RequestLogRow } from "./request-log.ts";

const COLUMNS = [
  "ts", "request_id", "endpoint", "method", "client_model", "upstream", "upstream_model", "status",
  "latency_ms", "ttfb_ms", "stream", "prompt_tokens", "completion_tokens", "finish_reason", "retries",
  "error", "tools_received", "tools_kept", "tool_tokens_before", "tool_tokens_after", "selection_mode",
  "selection_ms", "request_body", "response_body", "tool_rounds", "proxy_tool_calls", "tool_time_ms", "tool_loop_end",
  "compression_mode", "prompt_tokens_estimated", "prompt_tokens_estimated_after", "token_budget",
  "compression_steps", "messages_dropped", "messages_truncated", "compression_ms", "upstream_status",
  "tool_decisions", "retry_reasons",
  "selection_cache", "prompt_tokens_to_compute", "cached_tokens", "working_set_size", "working_set_change",
] as const;

/** Where a row's decisions JSON is in its values; the row stores their list's id instead (tool_decisions_id). */
const DECISIONS = COLUMNS.indexOf("tool_decisions");

/**
 * Distinct decision lists whose id the writer remembers (by JSON text, ~3.5 KB each for 34 tools);
 * past it the memory starts over. The selector remembers 256 outcomes (OUTCOMES in
 * src/selection/selector.ts), so a list that recurs is among that many recent ones; a forgotten one
 * costs a SHA-256, an INSERT OR IGNORE and a SELECT.
 */
const KNOWN_LISTS = 256;

/** Values for the NOT NULL columns a row may leave unset (see migrations.ts). */
const NOT_NULL_DEFAULTS: Partial<Record<(typeof COLUMNS)[number], number>> = { stream: 0, retries: 0 };

/** One row as the values of COLUMNS, in order: what is posted to the Worker and inserted. */
export type RowValues = (string | number | null)[];

/** JSON text of values many rows share (sharedRowValue), made on first use. */
const sharedJson = new WeakMap<object, string | null>();

/**
 * Marks `value` (a row field's object) as shared by many rows and never changed after: its JSON is
 * made once. The selector's remembered decisions (34 objects for Home Assistant's tools) recur in
 * row after row. The array is frozen; its elements must not change either (they are typed read-only).
 */
export function sharedRowValue<T extends object>(value: T): Readonly<T> {
  sharedJson.set(value, null);
  return Object.freeze(value);
}

function jsonOf(value: object): string {
  const known = sharedJson.get(value);
  if (known === undefined) return JSON.stringify(value);
  if (known !== null) return known;
  const text = JSON.stringify(value);
  sharedJson.set(value, text);
  return text;
}

/**
 * `row` as the values of COLUMNS: booleans as 0/1, objects as JSON text, unset NOT NULL columns as
 * their defaults. Runs on the serving thread: a row of numbers and strings is cheap to post to the
 * Worker, where a structured clone of 34 decision objects cost ~30 µs a row (docs/benchmarks.md, issue 10).
 */
export function rowValues(row: RequestLogRow): RowValues {
  return COLUMNS.map((c) => {
    const v = row[c];
    // NOT NULL columns: one row without them must not lose the whole batch.
    if (v === undefined || v === null) return NOT_NULL_DEFAULTS[c] ?? null;
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "object") return jsonOf(v);
    return v;
  });
}

/** Opens (and migrates) the database at `path`. @throws when it cannot be opened or migrated */
export function openDatabase(path: string): Database {
  const db = new Database(path, { create: true });
  // busy_timeout first: switching to WAL waits for a lock that another connection (a reader, the
  // thread that migrated the file) may hold for a moment.
  db.exec("PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  const { user_version } = db.query("PRAGMA user_version").get() as { user_version: number };
  for (let v = user_version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
  return db;
}

export interface RetentionOptions {
  retentionDays?: number;
  retentionRows?: number;
}

export class RequestLogWriter {
  private readonly db: Database;
  private readonly insert;
  private readonly insertList;
  private readonly listId;
  /** Decisions JSON -> its tool_decision_lists id, for lists this writer stored or found (at most KNOWN_LISTS). */
  private readonly lists = new Map<string, number>();
  private lastPrune = 0;
  private warned = false;

  /** @throws when the database cannot be opened */
  constructor(
    path: string,
    private readonly retention: RetentionOptions,
  ) {
    this.db = openDatabase(path);
    const columns = COLUMNS.map((c) => (c === "tool_decisions" ? "tool_decisions_id" : c));
    this.insert = this.db.prepare(`INSERT INTO requests (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
    this.insertList = this.db.prepare("INSERT OR IGNORE INTO tool_decision_lists (hash, decisions) VALUES (?, ?)");
    this.listId = this.db.prepare("SELECT id FROM tool_decision_lists WHERE hash = ?");
  }

  /** The id of the stored list `json` (stored now when it is new). Inside write()'s transaction. */
  private listOf(json: string): number {
    let id = this.lists.get(json);
    if (id !== undefined) return id;
    const hash = new Bun.CryptoHasher("sha256").update(json).digest();
    this.insertList.run(hash, json);
    id = (this.listId.get(hash) as { id: number }).id;
    if (this.lists.size >= KNOWN_LISTS) this.lists.clear();
    this.lists.set(json, id);
    return id;
  }

  /**
   * Inserts `rows` (rowValues of each) in one transaction, then prunes when due. Never throws: a
   * failure is reported once on stderr.
   * @returns how many rows could not be written
   */
  write(rows: RowValues[]): number {
    if (rows.length === 0) return 0;
    try {
      this.db.transaction(() => {
        for (const values of rows) {
          const decisions = values[DECISIONS];
          if (typeof decisions !== "string") this.insert.run(...values);
          else this.insert.run(...values.slice(0, DECISIONS), this.listOf(decisions), ...values.slice(DECISIONS + 1));
        }
      })();
      this.prune();
      return 0;
    } catch (err) {
      // Lists stored in a rolled-back transaction are gone: forget their ids.
      this.lists.clear();
      if (!this.warned) {
        this.warned = true;
        console.error(`llm-proxy: request log write failed (${(err as Error).message}); requests are not affected`);
      }
      return rows.length;
    }
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    const { retentionDays, retentionRows } = this.retention;
    let deleted = 0;
    if (retentionDays) deleted += this.db.run("DELETE FROM requests WHERE ts < ?", [now - retentionDays * 86_400_000]).changes;
    if (retentionRows) {
      deleted += this.db.run("DELETE FROM requests WHERE id <= (SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?)", [retentionRows]).changes;
    }
    // Then the lists no row names any more (one lookup in requests_tool_decisions_id per list); rows
    // deleted by hand leave theirs until the next prune that deletes rows.
    if (deleted === 0) return;
    const orphans = this.db.run("DELETE FROM tool_decision_lists WHERE NOT EXISTS (SELECT 1 FROM requests WHERE tool_decisions_id = tool_decision_lists.id)");
    if (orphans.changes > 0) this.lists.clear();
  }

  close(): void {
    this.db.close();
  }
}
