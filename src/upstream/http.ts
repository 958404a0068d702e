/**
 * One HTTP exchange with an upstream, with retries, backoff, timeouts and cancellation.
 *
 * - Retries connect errors and the statuses of the upstream's `retry_on` (see retry.ts), bounded by
 *   `max_retries` and `deadline_ms`. A retry happens only before this function returns, so never
 *   after the client got a byte. Each retry is reported with its reason: the status and the first
 *   bytes of the error body, or the connection failure.
 * - `timeout_ms` bounds connect + response headers of each attempt; `idle_timeout_ms` bounds the
 *   silence between two body chunks after that.
 * - Aborting `signal` (the client went away) aborts the upstream request at once, also mid-body.
 * - The upstream's credentials are taken out of its error bodies (some servers echo the key).
 */
import type { UpstreamConfig } from "../config/schema.ts";
import { redact, upstreamSecrets } from "../config/secrets.ts";
import { ProxyError } from "../server/errors.ts";
import { retryDelay } from "./retry.ts";

export interface UpstreamRequest {
  /** Path appended to the upstream's base_url, e.g. "/chat/completions". */
  path: string;
  method?: string;
  headers?: Record<string, string>;
  /** A string or bytes can be re-sent on retry; a stream is sent once (no retry). */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null;
  /** The client's Authorization header, forwarded when the upstream has no api_key. */
  clientAuthorization?: string | null;
  /** Aborted when the client disconnects. */
  signal?: AbortSignal;
  /** Called before each retry with the wait in ms and why ("HTTP 503: <first bytes of the body>", "ECONNREFUSED: ..."). */
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
  /**
   * Hand the reply's body over as the upstream sent it, without the idle-timeout wrapper: the caller
   * reads it through `UpstreamReply.idle` instead (one JavaScript stream layer less per reply).
   */
  unguardedBody?: boolean;
}

/** The idle timeout of a body handed over unguarded: whoever reads it arms the clock around each read. */
export interface IdleTimeout {
  /** Silence allowed while a read waits for the next chunk, ms. */
  ms: number;
  /** Aborts the upstream request with a 504 ProxyError: the pending read then rejects with it. */
  expire(): void;
  /** The body's length as the upstream declared it (Content-Length of a body sent without Content-Encoding). */
  length: number | undefined;
}

export interface UpstreamReply {
  response: Response;
  /** Retries made before this response (0 when the first attempt answered). */
  retries: number;
  /** ms from the call to the response headers of the attempt that answered. */
  headersMs: number;
  /** Set when the body was handed over unguarded (`UpstreamRequest.unguardedBody`): the caller's reads must use it. */
  idle?: IdleTimeout;
}

/**
 * Bun's fetch runs at most this many requests at once, process-wide (BUN_CONFIG_MAX_HTTP_REQUESTS,
 * read by Bun at process start, default 256); more wait in Bun's queue, and that wait counts against
 * timeout_ms, which is timed around fetch(). Timeouts say so (docs/security.md, "Limits").
 */
const FETCH_SLOTS = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) || 256;
const FETCH_SLOTS_NOTE = ` (this includes any wait for one of the ${FETCH_SLOTS} upstream connections Bun allows at once: BUN_CONFIG_MAX_HTTP_REQUESTS)`;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/** Joins base_url and path without doubling or dropping the slash. */
export function upstreamUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, "") + (path.startsWith("/") ? path : `/${path}`);
}

/**
 * The headers of an upstream request. Authorization, first that applies: `api_key` as Bearer, an
 * `authorization` the upstream's `headers` set, nothing when base_url carries credentials (fetch
 * sends those as Basic), the client's own (only when the proxy checks no keys), else none.
 */
function requestHeaders(upstream: UpstreamConfig, req: UpstreamRequest): Headers {
  const headers = new Headers(req.headers);
  headers.delete("authorization");
  for (const [k, v] of Object.entries(upstream.headers)) headers.set(k, v);
  if (upstream.api_key) headers.set("authorization", `Bearer ${upstream.api_key}`);
  else if (!headers.has("authorization") && req.clientAuthorization && !URL.parse(upstream.base_url)?.username) headers.set("authorization", req.clientAuthorization);
  return headers;
}

/**
 * Wraps `body` so that `abort` runs when a read waits more than `idleMs` for the next chunk. The
 * clock runs only while a read is pending: a client that reads slowly (backpressure) is not an
 * upstream that went silent.
 */
export function withIdleTimeout(body: ReadableStream<Uint8Array>, idleMs: number, abort: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const timer = setTimeout(abort, idleMs);
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Headers that describe the upstream connection, not the body we pass on (fetch already decoded it). */
const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "date", "server"];

/**
 * The upstream's response headers minus hop-by-hop and encoding headers, and minus its CORS
 * headers: CORS is the proxy's policy (`server.cors_origins`), not the upstream's.
 */
export function responseHeaders(source: Headers): Headers {
  const headers = new Headers(source);
  for (const name of HOP_BY_HOP) headers.delete(name);
  for (const name of [...headers.keys()]) if (name.startsWith("access-control-")) headers.delete(name);
  return headers;
}

/** Bytes of a retried error body kept in its reason: enough for a message, small enough for a log row. */
const REASON_BYTES = 200;
/** Longest wait for those bytes: the body is thrown away, only its start is worth a little time. */
const REASON_WAIT_MS = 1_000;

/** The start of `body` (at most REASON_BYTES, as text); cancels the rest. Never throws. */
async function firstBytes(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), REASON_WAIT_MS);
  try {
    while (size < REASON_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } catch {
    // cut off or timed out: what arrived is the reason
  } finally {
    clearTimeout(timer);
    void reader.cancel().catch(() => {});
  }
  const bytes = Buffer.concat(parts).subarray(0, REASON_BYTES);
  return new TextDecoder().decode(bytes).replace(/\s+/g, " ").trim();
}

function describeFailure(err: unknown): string {
  const e = err as { code?: string; message?: string; name?: string };
  const message = String(e?.message ?? err);
  return e?.code && !message.startsWith(e.code) ? `${e.code}: ${message}` : message;
}

/**
 * Sends `req` to `upstream`, retrying as configured.
 * @returns the first non-retryable response, or the last one when retries ran out
 * @throws ProxyError 504 on timeout, 502 when the upstream cannot be reached, or the abort reason
 *   when the client disconnected
 */
export async function sendUpstream(upstream: UpstreamConfig, req: UpstreamRequest): Promise<UpstreamReply> {
  const started = performance.now();
  const deadline = started + upstream.deadline_ms;
  const url = upstreamUrl(upstream.base_url, req.path);
  const headers = requestHeaders(upstream, req);
  const canRetry = !(req.body instanceof ReadableStream);
  const maxRetries = canRetry ? upstream.max_retries : 0;

  for (let attempt = 0; ; attempt++) {
    if (req.signal?.aborted) throw req.signal.reason;
    const controller = new AbortController();
    const onClientAbort = () => controller.abort(req.signal!.reason);
    req.signal?.addEventListener("abort", onClientAbort, { once: true });
    let timedOut = false;
    const headerTimer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, Math.min(upstream.timeout_ms, Math.max(1, deadline - performance.now())));

    let response: Response | undefined;
    let failure: string | undefined;
    const attemptStarted = performance.now();
    try {
      response = await fetch(url, {
        method: req.method ?? "POST",
        headers,
        body: req.body ?? undefined,
        signal: controller.signal,
        // Bun's socket idle timer (5 min by default) would cut a cold CPU prompt that takes longer
        // before its headers; timeout_ms and the body idle timeout above bound the call instead.
        timeout: false,
      });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      failure = timedOut ? `timed out after ${upstream.timeout_ms} ms waiting for response headers${FETCH_SLOTS_NOTE}` : describeFailure(err);
    } finally {
      clearTimeout(headerTimer);
    }

    const waitMs = attempt < maxRetries ? retryDelay(response, attempt, upstream) : undefined;
    const retry = waitMs !== undefined && performance.now() + waitMs < deadline;
    if (!retry) {
      req.signal?.removeEventListener("abort", onClientAbort);
      if (!response) {
        if (timedOut) throw new ProxyError(504, `upstream ${upstream.name} ${failure}`, "upstream_error", "upstream_timeout");
        throw new ProxyError(502, `upstream ${upstream.name} unreachable: ${failure}`, "upstream_error", "upstream_unreachable");
      }
      const idleMs = upstream.idle_timeout_ms;
      const expire = () => controller.abort(new ProxyError(504, `upstream ${upstream.name} sent nothing for ${idleMs} ms`, "upstream_error", "upstream_timeout"));
      const init = { status: response.status, statusText: response.statusText, headers: responseHeaders(response.headers) };
      const headersMs = performance.now() - attemptStarted;
      const secrets = upstreamSecrets(upstream);
      // Error bodies are small and not streamed: read them to take out the key, should the upstream echo it.
      if (response.status >= 400 && response.body && secrets.length > 0) {
        const text = await new Response(withIdleTimeout(response.body, idleMs, expire)).text();
        return { response: new Response(redact(text, secrets), init), retries: attempt, headersMs };
      }
      if (req.unguardedBody) {
        const declared = response.headers.get("content-length");
        const length = declared !== null && !response.headers.has("content-encoding") ? Number(declared) : undefined;
        return { response: new Response(response.body, init), retries: attempt, headersMs, idle: { ms: idleMs, expire, length } };
      }
      const body = response.body ? withIdleTimeout(response.body, idleMs, expire) : null;
      return { response: new Response(body, init), retries: attempt, headersMs };
    }
    req.signal?.removeEventListener("abort", onClientAbort);
    let reason = failure!;
    if (response) {
      const start = response.body ? redact(await firstBytes(response.body), upstreamSecrets(upstream)) : "";
      reason = start ? `HTTP ${response.status}: ${start}` : `HTTP ${response.status}`;
    }
    req.onRetry?.({ attempt: attempt + 1, waitMs: waitMs!, reason });
    await sleep(waitMs!, req.signal);
  }
}
