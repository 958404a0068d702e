/**
 * One request's journey through the proxy: its id, timings, the headers to add to the response,
 * and the request-log row filled in along the way and recorded once when the response ends.
 */
import type { RequestLogRow } from "../store/request-log.ts";

export interface ExchangeInit {
  requestId: string;
  endpoint: string;
  method: string;
  /** Aborted when the client disconnects. */
  signal?: AbortSignal;
  /** The client's Authorization header, forwarded to upstreams that have no api_key. */
  clientAuthorization?: string | null;
  /** Where the finished row goes; undefined disables the log. */
  record?: (row: RequestLogRow) => void;
  /** The client's `X-Conversation-Id` header (augmented models' splice and chat history). */
  conversationId?: string | null;
}

export class Exchange {
  readonly requestId: string;
  readonly signal: AbortSignal | undefined;
  readonly clientAuthorization: string | null;
  readonly conversationId: string | null;
  /** performance.now() at arrival. */
  readonly started = performance.now();
  readonly row: RequestLogRow;
  /** Added to the response (X-Request-Id, X-LLM-Proxy-Tools, ...). */
  readonly responseHeaders: Record<string, string>;
  private finished = false;
  private held = false;
  private readonly finishListeners: ((row: RequestLogRow) => void)[] = [];

  constructor(private readonly init: ExchangeInit) {
    this.requestId = init.requestId;
    this.signal = init.signal;
    this.clientAuthorization = init.clientAuthorization ?? null;
    this.conversationId = init.conversationId ?? null;
    this.row = { ts: Date.now(), request_id: init.requestId, endpoint: init.endpoint, method: init.method, retries: 0, stream: false };
    this.responseHeaders = { "x-request-id": init.requestId };
  }

  /** ms since arrival. */
  elapsedMs(): number {
    return performance.now() - this.started;
  }

  /** Marks the first body byte from the upstream (only the first call counts). */
  firstByte(): void {
    this.row.ttfb_ms ??= Math.round(this.elapsedMs() * 100) / 100;
  }

  /** Calls `listener` with the completed row when the exchange finishes (e.g. to learn from the upstream's usage). */
  onFinish(listener: (row: RequestLogRow) => void): void {
    this.finishListeners.push(listener);
  }

  /**
   * Completes the row with `patch` and the latency, and records it (unless held); later calls are
   * ignored.
   */
  finish(patch: Partial<RequestLogRow> = {}): void {
    if (this.finished) return;
    this.finished = true;
    Object.assign(this.row, patch);
    this.row.latency_ms = Math.round(this.elapsedMs() * 100) / 100;
    if (!this.held) this.commit();
  }

  /**
   * Holds the record of a finished row until release(): for a front that still works on the reply
   * after the tap has read it (translation), so that a failure there is what the row says.
   */
  hold(): void {
    this.held = true;
  }

  /** Records a held row, with `failure` (what the client got instead) when given; a no-op when not held. */
  release(failure?: { status: number; error: string }): void {
    if (!this.held) return;
    this.held = false;
    if (!this.finished) {
      if (failure) this.finish(failure);
      return;
    }
    if (failure) Object.assign(this.row, failure);
    this.commit();
  }

  /** Hands the completed row to the finish listeners and the log. */
  private commit(): void {
    for (const listener of this.finishListeners) {
      try {
        listener(this.row);
      } catch {
        // an observer's failure must not lose the log row
      }
    }
    this.init.record?.(this.row);
  }
}
