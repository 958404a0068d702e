/**
 * The request log's Worker: owns the SQLite connection so that inserts, pruning and WAL checkpoints
 * never block the event loop that serves requests. Messages (from request-log.ts):
 *
 * - `{ type: "open", path, retention, state }`: opens the database (again at the next batch when it
 *   fails); `state` is a shared Int32Array [batches written, rows failed] that the main thread reads
 *   and waits on;
 * - `{ type: "rows", seq, rows }`: writes a batch (each row as its column values, rowValues()), then publishes `seq` in state[0];
 * - `{ type: "close", seq }`: closes the database, then publishes `seq`.
 */
import { RequestLogWriter, type RetentionOptions, type RowValues } from "./request-log-writer.ts";

declare const self: Worker;

type Message =
  | { type: "open"; path: string; retention: RetentionOptions; state: Int32Array }
  | { type: "rows"; seq: number; rows: RowValues[] }
  | { type: "close"; seq: number };

let writer: RequestLogWriter | undefined;
let state: Int32Array;
let open: () => RequestLogWriter | undefined = () => undefined;
let warned = false;

function publish(seq: number): void {
  Atomics.store(state, 0, seq);
  Atomics.notify(state, 0);
}

self.onmessage = ({ data }: MessageEvent<Message>) => {
  switch (data.type) {
    case "open": {
      state = data.state;
      const { path, retention } = data;
      open = () => {
        try {
          return new RequestLogWriter(path, retention);
        } catch (err) {
          if (!warned) console.error(`llm-proxy: request log cannot be opened (${(err as Error).message}); requests are not affected`);
          warned = true;
          return undefined;
        }
      };
      writer = open();
      return;
    }
    case "rows":
      writer ??= open();
      Atomics.add(state, 1, writer ? writer.write(data.rows) : data.rows.length);
      return publish(data.seq);
    case "close":
      writer?.close();
      writer = undefined;
      return publish(data.seq);
  }
};
