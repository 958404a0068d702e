/**
 * The request log: one row per request in SQLite (bun:sqlite, WAL), written off the hot path.
 *
 * `record()` only queues the row; every `flush_interval_ms` the queue is posted to a Worker
 * (request-log-worker.ts, started with the first rows) that writes it in one transaction, so SQLite
 * never blocks the event loop.
 * Errors while writing are reported once on stderr and counted, never thrown to a request. Old rows
 * are pruned by age and count after a write (at most once a minute).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ToolDecision } from "../selection/rank.ts";
import { RequestLogQueries } from "./request-log-queries.ts";
import { openDatabase, rowValues, type RetentionOptions } from "./request-log-writer.ts";

export interface RequestLogRow {
  ts: number;
  request_id: string;
  endpoint: string;
  method: string;
  client_model?: string | null;
  upstream?: string | null;
  upstream_model?: string | null;
  /** The HTTP status the client got (for a stream cut after its headers: the status of the error it was sent). */
  status?: number | null;
  /** The HTTP status the upstream answered with; null when it never answered. */
  upstream_status?: number | null;
  latency_ms?: number | null;
  ttfb_ms?: number | null;
  stream?: boolean;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  finish_reason?: string | null;
  retries?: number;
  /** Why each retry happened, in order (status and first bytes of the error, or the connection failure). */
  retry_reasons?: string[] | null;
  error?: string | null;
  tools_received?: number | null;
  tools_kept?: string[] | null;
  tool_tokens_before?: number | null;
  tool_tokens_after?: number | null;
  selection_mode?: string | null;
  selection_ms?: number | null;
  compression_mode?: string | null;
  prompt_tokens_estimated?: number | null;
  prompt_tokens_estimated_after?: number | null;
  token_budget?: number | null;
  /** Step -> estimated tokens it saved; "over budget" -> tokens still over. */
  compression_steps?: Record<string, number> | null;
  messages_dropped?: number | null;
  messages_truncated?: number | null;
  compression_ms?: number | null;
  selection_cache?: string | null;
  prompt_tokens_to_compute?: number | null;
  cached_tokens?: number | null;
  working_set_size?: number | null;
  working_set_change?: string | null;
  request_body?: string | null;
  response_body?: string | null;
  tool_rounds?: number | null;
  proxy_tool_calls?: { name: string; round?: number; ms: number; ok: boolean; error?: string; arguments?: string }[] | null;
  tool_time_ms?: number | null;
  tool_loop_end?: string | null;
  /** The selector's decision per tool (see migrations.ts). */
  tool_decisions?: readonly Readonly<ToolDecision>[] | null;
}

export interface RequestLogOptions {
  /** Directory holding `llm-proxy.sqlite`. */
  dataDir: string;
  flushIntervalMs?: number;
  retentionDays?: number;
  retentionRows?: number;
}

/** How long flush() and close() wait for the Worker before giving up on a batch. */
const WAIT_MS = 5_000;

export class RequestLog {
  readonly path: string;
  private queue: RequestLogRow[] = [];
  /** The writer Worker, started with the first batch: an idle proxy does not pay for it (~3-5 MiB). */
  private workerOf: Worker | undefined;
  private readonly retention: RetentionOptions;
  /** Shared with the Worker: [batches written, rows failed]. */
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private seq = 0;
  private timer: ReturnType<typeof setInterval>;

  /** @throws when the data directory or database cannot be created or migrated (a start-up error) */
  constructor(options: RequestLogOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.path = join(options.dataDir, "llm-proxy.sqlite");
    // Opened and migrated here once, so that a start-up failure is thrown to the caller.
    openDatabase(this.path).close();
    this.retention = { retentionDays: options.retentionDays, retentionRows: options.retentionRows };
    this.timer = setInterval(() => this.post(), options.flushIntervalMs ?? 100);
    this.timer.unref?.();
  }

  private get worker(): Worker {
    if (this.workerOf) return this.workerOf;
    const worker = new Worker(new URL("./request-log-worker.ts", import.meta.url).href);
    worker.unref();
    worker.postMessage({ type: "open", path: this.path, retention: this.retention, state: this.state });
    return (this.workerOf = worker);
  }

  private readerOf: RequestLogQueries | undefined;

  /** The dashboard's reads of the log, in a Worker started on first use. */
  get reader(): RequestLogQueries {
    return (this.readerOf ??= new RequestLogQueries(this.path));
  }

  /** Rows that could not be written. */
  get failures(): number {
    return Atomics.load(this.state, 1);
  }

  /** Rows queued and not yet posted to the Worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues a row; never throws. */
  record(row: RequestLogRow): void {
    this.queue.push(row);
  }

  /** Posts the queued rows to the Worker. @returns the batch's sequence number */
  private post(): number {
    if (this.queue.length === 0) return this.seq;
    const rows = this.queue.map(rowValues);
    this.queue = [];
    this.worker.postMessage({ type: "rows", seq: ++this.seq, rows });
    return this.seq;
  }

  /** Blocks until the Worker has handled message `seq` (at most WAIT_MS). */
  private waitFor(seq: number): void {
    const deadline = performance.now() + WAIT_MS;
    for (let done = Atomics.load(this.state, 0); done < seq; done = Atomics.load(this.state, 0)) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      Atomics.wait(this.state, 0, done, left);
    }
  }

  /**
   * Writes the queued rows now and waits until they are in the database (blocking, up to 5 s):
   * for reading back at once (tests, shutdown), never on the request path.
   */
  flush(): void {
    this.waitFor(this.post());
  }

  /** Writes the queued rows and closes the database. */
  close(): void {
    clearInterval(this.timer);
    this.readerOf?.close();
    this.post();
    if (!this.workerOf) return;
    this.workerOf.postMessage({ type: "close", seq: ++this.seq });
    this.waitFor(this.seq);
    this.workerOf.terminate();
  }
}
