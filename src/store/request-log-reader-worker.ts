/**
 * The dashboard's reads of the request log, in a Worker of their own: a week's stats over 100k rows
 * takes hundreds of ms (docs/dashboard.md), which must not stall the event loop that serves requests.
 * Messages (from request-log-queries.ts): `{ id, path, method, args }` runs one RequestLogReader
 * method; the answer is `{ id, result }` or `{ id, error }`.
 */
import { RequestLogReader } from "./request-log-reader.ts";

declare const self: Worker;

export type ReaderMethod = "list" | "get" | "facets" | "stats" | "columns";

let reader: RequestLogReader | undefined;

self.onmessage = ({ data }: MessageEvent<{ id: number; path: string; method: ReaderMethod; args: unknown[] }>) => {
  const { id, path, method, args } = data;
  try {
    reader ??= new RequestLogReader(path);
    const result = (reader[method] as (...a: unknown[]) => unknown)(...args);
    self.postMessage({ id, result });
  } catch (err) {
    // A failed open is retried by the next query.
    reader?.close();
    reader = undefined;
    self.postMessage({ id, error: (err as Error).message });
  }
};
