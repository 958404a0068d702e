/**
 * Streamed-reply translation between OpenAI SSE (chat.completion.chunk events, `data: [DONE]`) and
 * Ollama NDJSON (/api/chat and /api/generate objects, the last one `done: true`), both ways.
 *
 * OpenAI -> Ollama: every line carries a `message` object (chat) or `response` (generate), the
 * final line too; tool-call argument fragments are buffered per index and each call is emitted
 * whole, with `arguments` an object, when the choice finishes; a `data: {"error":...}` event becomes
 * an `{"error": "..."}` line. Ollama -> OpenAI: each line becomes a chunk; tool calls get an index
 * and an id; the done line becomes the finish chunk (and the usage chunk when asked for).
 *
 * The byte transforms parse incrementally (lines split anywhere across chunks) and write once per
 * upstream chunk; nothing is buffered beyond an incomplete line.
 */
import { ProxyError } from "../server/errors.ts";
import { NDJSONParser } from "./ndjson.ts";
import type { OllamaChatResponse, OllamaErrorBody, OllamaToolCall } from "./ollama.ts";
import { doneStats, finishReason, ollamaToolCall, openAIToolCalls, reasoningOf, timingsFrom, usageFrom } from "./ollama-response.ts";
import type { ChatCompletionChunk, Timings, Usage } from "./openai.ts";
import { SSE_DONE, SSEParser } from "./sse.ts";

export type OllamaReplyKind = "chat" | "generate";

/** Turns OpenAI stream chunks into Ollama stream objects, for one reply. */
export class OllamaStreamEncoder {
  private readonly calls = new Map<number, { name: string; args: string }>();
  private firstTokenMs: number | undefined;
  private usage: Usage | null | undefined;
  private timings: Timings | undefined;
  private finish: string | null | undefined;
  private deltas = 0;

  /**
   * @param model the model name the client asked for (reported on every object)
   * @param startedMs performance.now() at the request's arrival (for the durations)
   */
  constructor(
    private readonly kind: OllamaReplyKind,
    private readonly model: string,
    private readonly startedMs: number,
  ) {}

  private line(content: string, thinking?: string, toolCalls?: OllamaToolCall[]): object {
    const created_at = new Date().toISOString();
    if (this.kind === "generate") return thinking ? { model: this.model, created_at, response: content, thinking, done: false } : { model: this.model, created_at, response: content, done: false };
    const message: Record<string, unknown> = { role: "assistant", content };
    if (thinking) message.thinking = thinking;
    if (toolCalls) message.tool_calls = toolCalls;
    return { model: this.model, created_at, message, done: false };
  }

  /** The buffered tool calls, whole, in index order, as one object (none when nothing is buffered). @throws ProxyError 502 for malformed arguments */
  private flushCalls(out: object[]): void {
    if (this.calls.size === 0) return;
    const indexes = [...this.calls.keys()].sort((a, b) => a - b);
    const calls = indexes.map((i) => {
      const call = this.calls.get(i)!;
      return ollamaToolCall(call.name, call.args);
    });
    this.calls.clear();
    out.push(this.line("", undefined, calls));
  }

  /**
   * @returns the objects to send for one chunk, in order
   * @throws ProxyError 502 when a finished tool call's arguments are not a JSON object
   */
  push(chunk: ChatCompletionChunk): object[] {
    const out: object[] = [];
    if (chunk.usage) this.usage = chunk.usage;
    if (chunk.timings) this.timings = chunk.timings;
    const choice = chunk.choices?.[0];
    if (!choice) return out;
    const delta = choice.delta;
    if (delta) {
      const content = typeof delta.content === "string" ? delta.content : "";
      const thinking = reasoningOf(delta);
      if (content || thinking) {
        this.firstTokenMs ??= performance.now();
        this.deltas++;
        out.push(this.line(content, thinking));
      }
      if (delta.tool_calls) {
        this.firstTokenMs ??= performance.now();
        for (const part of delta.tool_calls) {
          const index = part.index ?? 0;
          let call = this.calls.get(index);
          if (!call) this.calls.set(index, (call = { name: "", args: "" }));
          if (part.function?.name) call.name += part.function.name;
          const args: unknown = part.function?.arguments;
          // Some servers send the arguments as an object, whole, instead of string fragments.
          if (args) call.args += typeof args === "string" ? args : JSON.stringify(args);
        }
      }
    }
    if (choice.finish_reason) {
      this.finish = choice.finish_reason;
      this.flushCalls(out);
    }
    return out;
  }

  /**
   * Ends the reply: tool calls still buffered, then the final object (`done: true`, an empty
   * `message`, durations in ns from the upstream's `timings` or else as seen here, counts from usage
   * or else the number of content deltas; see doneStats).
   * @throws ProxyError 502 when a tool call's arguments are not a JSON object
   */
  end(): object[] {
    const out: object[] = [];
    this.flushCalls(out);
    const endMs = performance.now();
    const timing = { startedMs: this.startedMs, firstTokenMs: this.firstTokenMs ?? endMs, endMs };
    const stats = doneStats(timing, this.usage, this.finish, this.deltas, this.timings);
    const created_at = new Date().toISOString();
    out.push(
      this.kind === "generate"
        ? { model: this.model, created_at, response: "", done: true, ...stats }
        : { model: this.model, created_at, message: { role: "assistant", content: "" }, done: true, ...stats },
    );
    return out;
  }
}

/** The message of an error event or line: `{"error":{"message":...}}` (OpenAI) or `{"error":"..."}` (Ollama). */
export function errorMessageOf(body: unknown): string | undefined {
  const error = (body as { error?: unknown } | null)?.error;
  if (error === undefined || error === null) return undefined;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown }).message;
  return typeof message === "string" ? message : JSON.stringify(error);
}

// One string per upstream chunk, encoded once: cheaper than bytes per line joined afterwards.
const textEncoder = new TextEncoder();

/**
 * Translates an OpenAI SSE body into an Ollama NDJSON body, one write per upstream chunk.
 * A mid-stream failure (a `data: {"error":...}` event, a malformed event, a read error) ends the
 * stream with an `{"error": "..."}` line, reported to `onError` too. Cancelling the result cancels `body`.
 */
export function ndjsonFromSSE(body: ReadableStream<Uint8Array>, encoder: OllamaStreamEncoder, onError?: (message: string) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const parser = new SSEParser();
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let out = "";
        const fail = (message: string) => {
          onError?.(message);
          out += `${JSON.stringify({ error: message } satisfies OllamaErrorBody)}\n`;
          finished = true;
        };
        const emit = (objects: object[]) => {
          for (const o of objects) out += `${JSON.stringify(o)}\n`;
        };
        while (out === "" && !finished) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            fail(`upstream stream failed: ${(err as Error)?.message ?? err}`);
            break;
          }
          const events = chunk.done ? parser.end() : parser.push(chunk.value);
          try {
            for (const data of events) {
              if (data === SSE_DONE) {
                emit(encoder.end());
                finished = true;
                break;
              }
              let json: ChatCompletionChunk;
              try {
                json = JSON.parse(data) as ChatCompletionChunk;
              } catch {
                fail(`upstream sent a malformed stream event: ${data.slice(0, 200)}`);
                break;
              }
              const error = errorMessageOf(json);
              if (error !== undefined) {
                fail(error);
                break;
              }
              emit(encoder.push(json));
            }
            if (chunk.done && !finished) {
              emit(encoder.end());
              finished = true;
            }
          } catch (err) {
            if (!(err instanceof ProxyError)) throw err;
            fail(err.message);
          }
        }
        if (out !== "") controller.enqueue(textEncoder.encode(out));
        if (finished) {
          controller.close();
          // Reading on lets the tap see the end of the upstream body and record the exchange.
          void drain(reader);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads what is left of a body we no longer need (usually nothing but the end). */
async function drain(reader: { read(): Promise<{ done: boolean }> }): Promise<void> {
  try {
    while (!(await reader.read()).done);
  } catch {
    // already cancelled or failed: nothing left to read
  }
}

/** Turns Ollama /api/chat stream objects into OpenAI chunks, for one reply. */
export class OpenAIChunkEncoder {
  private readonly created = Math.floor(Date.now() / 1000);
  private started = false;
  private toolIndex = 0;

  /**
   * @param model the model name to report
   * @param id unique id of the reply (chunk id `chatcmpl-<id>`, tool-call ids `call_<id>_<n>`)
   * @param includeUsage send a usage chunk after the finish chunk (`stream_options.include_usage`)
   */
  constructor(
    private readonly model: string,
    private readonly id: string,
    private readonly includeUsage: boolean,
  ) {}

  private chunk(delta: object, finish_reason: string | null = null): ChatCompletionChunk {
    return { id: `chatcmpl-${this.id}`, object: "chat.completion.chunk", created: this.created, model: this.model, choices: [{ index: 0, delta, finish_reason }] };
  }

  /** @returns the chunks for one Ollama object (an error line becomes an OpenAI error event) */
  push(line: OllamaChatResponse | OllamaErrorBody): object[] {
    const error = errorMessageOf(line);
    if (error !== undefined) return [{ error: { message: error, type: "upstream_error", param: null, code: "upstream_stream_error" } }];
    const reply = line as OllamaChatResponse;
    const out: object[] = [];
    if (!this.started) {
      this.started = true;
      out.push(this.chunk({ role: "assistant", content: "" }));
    }
    const m = reply.message;
    if (m?.thinking) out.push(this.chunk({ reasoning_content: m.thinking }));
    if (m?.content) out.push(this.chunk({ content: m.content }));
    if (m?.tool_calls?.length) {
      const calls = openAIToolCalls(m.tool_calls, `call_${this.id}`, this.toolIndex);
      out.push(this.chunk({ tool_calls: calls.map((c, i) => ({ index: this.toolIndex + i, ...c })) }));
      this.toolIndex += calls.length;
    }
    if (reply.done) {
      // The upstream's own durations ride on the finish chunk as llama.cpp's `timings` do.
      const timings = timingsFrom(reply);
      out.push(timings ? { ...this.chunk({}, finishReason(reply.done_reason, this.toolIndex > 0)), timings } : this.chunk({}, finishReason(reply.done_reason, this.toolIndex > 0)));
      if (this.includeUsage) out.push({ id: `chatcmpl-${this.id}`, object: "chat.completion.chunk", created: this.created, model: this.model, choices: [], usage: usageFrom(reply) });
    }
    return out;
  }
}


/**
 * Translates an Ollama NDJSON body into an OpenAI SSE body ending with `data: [DONE]`, one write
 * per upstream chunk. An error line or a malformed line becomes a last `data: {"error":...}` event.
 * A read error is passed on (the tap reports it to the client).
 */
export function sseFromNDJSON(body: ReadableStream<Uint8Array>, encoder: OpenAIChunkEncoder): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const parser = new NDJSONParser();
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let out = "";
        while (out === "" && !finished) {
          const chunk = await reader.read().catch((err: unknown) => {
            controller.error(err);
            return undefined;
          });
          if (!chunk) return;
          let lines: unknown[];
          try {
            lines = chunk.done ? parser.end() : parser.push(chunk.value);
          } catch {
            lines = [{ error: "the Ollama upstream sent a line that is not JSON" }];
          }
          for (const line of lines) {
            const events = encoder.push(line as OllamaChatResponse);
            for (const e of events) out += `data: ${JSON.stringify(e)}\n\n`;
            if (errorMessageOf(line) !== undefined) {
              finished = true;
              void reader.cancel().catch(() => {});
              break;
            }
          }
          if (chunk.done && !finished) {
            out += `data: ${SSE_DONE}\n\n`;
            finished = true;
          }
        }
        if (out !== "") controller.enqueue(textEncoder.encode(out));
        if (finished) controller.close();
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
