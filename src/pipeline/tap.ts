/**
 * Taps an upstream reply on its way to the client: bytes are passed on as they arrive, unchanged,
 * while usage (with the cached prompt tokens reported in `usage.prompt_tokens_details.cached_tokens`
 * or llama.cpp's `timings.cache_n`), finish_reason, time to first byte and errors are read for the
 * request log.
 *
 * When the upstream fails mid-stream, an SSE reply gets a last `data: {"error":{...}}` event (the
 * shape the OpenAI SDKs raise as an APIError) and then ends; a JSON reply is cut off with an error.
 *
 * A body handed over unguarded (`TapOptions.idle`) is read with the idle timeout armed here, so a
 * reply goes through one JavaScript stream layer, not two; a small JSON body of declared length is
 * read whole and answered as bytes, with no stream layer at all (it is complete when it arrives).
 */
import type { Usage } from "../protocol/openai.ts";
import { encodeSSE, SSE_DONE, SSEParser } from "../protocol/sse.ts";
import { openAIErrorBody, ProxyError } from "../server/errors.ts";
import type { IdleTimeout } from "../upstream/http.ts";
import type { Exchange } from "./exchange.ts";

const FINISHED = /"finish_reason":\s*"/;
const MAX_LOGGED_BODY = 1 << 20;
/** Largest declared JSON body read whole instead of streamed. */
const MAX_WHOLE_BODY = 4 << 20;

interface Summary {
  usage?: (Usage & { prompt_tokens_details?: { cached_tokens?: number } | null }) | null;
  choices?: { finish_reason?: string | null }[];
  /** llama.cpp's per-request timings; `cache_n` = prompt tokens reused from the KV cache. */
  timings?: { cache_n?: number } | null;
}

export interface TapOptions {
  /** The body is an SSE stream (else one JSON document). */
  sse: boolean;
  /** Keep the body text for the log (bounded to 1 MiB). */
  captureBody: boolean;
  /** Print the raw body to stdout when it ends (option log_raw_responses). */
  printBody?: boolean;
  /** The idle timeout of a body handed over unguarded (`UpstreamReply.idle`); reads are timed with it. */
  idle?: IdleTimeout;
}

function streamFailure(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : new ProxyError(502, `upstream stream failed: ${(err as Error)?.message ?? err}`, "upstream_error", "upstream_stream_error");
}

/**
 * Returns a Response with the same status and headers whose body is `response.body`, tapped.
 * @throws ProxyError when a body read whole fails (the upstream's idle timeout, a cut connection)
 */
export async function tapReply(response: Response, exchange: Exchange, options: TapOptions): Promise<Response> {
  const status = response.status;
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(exchange.responseHeaders)) headers.set(k, v);
  // What the client gets, until a failure after the headers says otherwise; the upstream's stays.
  exchange.row.status = status;
  exchange.row.upstream_status = status;
  const source = response.body;
  if (!source) {
    exchange.finish();
    return new Response(null, { status, headers });
  }
  const idle = options.idle;
  // A JSON body is read for its usage, an error body for the log; audio or files passed through are not decoded.
  const readable = status >= 400 || (headers.get("content-type") ?? "").includes("json");
  const keepText = options.captureBody || options.printBody || (!options.sse && readable);
  let text = "";
  let usage: Usage | null | undefined;
  let finishReason: string | null | undefined;
  let cached: number | undefined;
  // The SSE terminator reached the client: a cancel after it is a client that read everything and
  // closed before the upstream closed its end (the openai SDK stops at `[DONE]`), not a disconnect.
  let terminated = false;

  const note = (json: Summary) => {
    if (json.usage) usage = json.usage;
    const reported = json.usage?.prompt_tokens_details?.cached_tokens ?? json.timings?.cache_n;
    if (typeof reported === "number") cached = reported;
    const reason = json.choices?.find((c) => c?.finish_reason)?.finish_reason;
    if (reason) finishReason = reason;
  };
  const readSummary = () => {
    if (options.sse) return;
    try {
      note(JSON.parse(text) as Summary);
    } catch {
      // not JSON (an HTML error page, say): nothing to read, still passed on as is
    }
  };
  const done = (error?: string) => {
    if (options.printBody) console.log(`[${exchange.requestId}] response: ${text}`);
    exchange.finish({
      prompt_tokens: usage?.prompt_tokens ?? null,
      completion_tokens: usage?.completion_tokens ?? null,
      cached_tokens: cached ?? null,
      finish_reason: finishReason ?? null,
      error: error ?? exchange.row.error ?? (status >= 400 ? text.slice(0, 2000) : null),
      response_body: options.captureBody ? text.slice(0, MAX_LOGGED_BODY) : null,
    });
  };

  if (idle && !options.sse && readable && idle.length !== undefined && idle.length <= MAX_WHOLE_BODY) {
    let bytes: ArrayBuffer;
    const timer = setTimeout(idle.expire, idle.ms);
    try {
      bytes = await response.arrayBuffer();
    } catch (err) {
      // The client has no byte yet: answer() turns this into a clean error response and log row.
      throw streamFailure(err);
    } finally {
      clearTimeout(timer);
    }
    exchange.firstByte();
    if (keepText) text = new TextDecoder().decode(bytes);
    readSummary();
    done();
    return new Response(bytes, { status, headers });
  }

  const reader = source.getReader();
  const parser = options.sse ? new SSEParser() : undefined;
  const decoder = new TextDecoder();
  const read = () => {
    if (!idle) return reader.read();
    // The clock runs only while a read is pending: a client that reads slowly (backpressure) is not
    // an upstream that went silent.
    const timer = setTimeout(idle.expire, idle.ms);
    return reader.read().finally(() => clearTimeout(timer));
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await read();
        } catch (err) {
          const failure = streamFailure(err);
          // The client got the headers, then this error (an SSE error event, or a cut body).
          exchange.row.status = failure.status;
          done(failure.message);
          if (!parser) return controller.error(failure);
          controller.enqueue(encodeSSE(openAIErrorBody(failure)));
          return controller.close();
        }
        if (chunk.done) {
          readSummary();
          done();
          return controller.close();
        }
        const bytes = chunk.value;
        exchange.firstByte();
        if (keepText && text.length < MAX_LOGGED_BODY) text += decoder.decode(bytes, { stream: true });
        if (parser) {
          for (const data of parser.push(bytes)) {
            if (data === SSE_DONE) terminated = true;
            else if (data.includes('"usage"') || FINISHED.test(data)) {
              try {
                note(JSON.parse(data) as Summary);
              } catch {
                // a malformed event is the client's to judge; the log just misses it
              }
            }
          }
        }
        controller.enqueue(bytes);
      },
      cancel(reason) {
        if (terminated) done();
        else {
          exchange.row.status = 499;
          done("client disconnected");
        }
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status, headers });
}
