/**
 * Asynchronous access to the request log for the dashboard: each call runs a RequestLogReader
 * method in the reader's Worker (request-log-reader-worker.ts, started on first use) and resolves
 * with its result, so slow reads never block the event loop.
 * @throws (rejects) with the reader's error message, e.g. when the database cannot be opened
 */
import type { ReaderMethod } from "./request-log-reader-worker.ts";
import type { RequestLogReader, RowFilter } from "./request-log-reader.ts";
import type { Stats, StatsWindow } from "./request-log-stats.ts";

export class RequestLogQueries {
  private worker: Worker | undefined;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** @param path the request log's SQLite file */
  constructor(readonly path: string) {}

  private ask<T>(method: ReaderMethod, ...args: unknown[]): Promise<T> {
    if (!this.worker) {
      this.worker = new Worker(new URL("./request-log-reader-worker.ts", import.meta.url).href);
      this.worker.onmessage = ({ data }: MessageEvent<{ id: number; result?: unknown; error?: string }>) => {
        const waiting = this.pending.get(data.id);
        this.pending.delete(data.id);
        if (this.pending.size === 0) this.worker?.unref();
        if (data.error !== undefined) waiting?.reject(new Error(data.error));
        else waiting?.resolve(data.result);
      };
    }
    // Referenced only while a query waits: an idle reader never keeps the process alive.
    this.worker.ref();
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker!.postMessage({ id, path: this.path, method, args });
    });
  }

  list(filter: RowFilter): Promise<ReturnType<RequestLogReader["list"]>> {
    return this.ask("list", filter);
  }

  get(id: number): Promise<Record<string, unknown> | undefined> {
    return this.ask("get", id);
  }

  facets(): Promise<ReturnType<RequestLogReader["facets"]>> {
    return this.ask("facets");
  }

  stats(window: StatsWindow): Promise<Stats> {
    return this.ask("stats", window);
  }

  columns(): Promise<string[]> {
    return this.ask("columns");
  }

  close(): void {
    this.worker?.terminate();
    this.worker = undefined;
    for (const { reject } of this.pending.values()) reject(new Error("request log closed"));
    this.pending.clear();
  }
}
