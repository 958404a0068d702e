/**
 * The tool loop of augmented models: call the model; when it calls proxy-owned tools, run them
 * (concurrently, each bounded by the model's `tool_timeout_ms` and the client's disconnect), append
 * the results as `tool` messages and call the model again, until it answers. Client tools go back
 * to the client as the model made them; a reply that calls both runs the proxy's calls, returns the
 * client's, and remembers the turn for the splice (splice.ts). After `max_tool_rounds` rounds of
 * proxy calls the model is called once more without proxy tools, so the client still gets an answer.
 *
 * Streaming: content (and reasoning) deltas of every round go to the client as they arrive; the
 * deltas of proxy-owned calls are held back and never shown; client calls stream with their index
 * renumbered among the client's calls. While tools run, status is sent by the model's `status` mode:
 * `chunks` (a `chat.completion.chunk` with `choices: []` and a `proxy_status` object, shaped like
 * the usage chunk the OpenAI SDKs accept), `thinking` (the same events as `reasoning_content`
 * text), or `off`. The stream ends with one finish_reason chunk, the summed usage when the client
 * asked for it, and `data: [DONE]`. Non-streaming replies carry usage summed over all rounds.
 *
 * The request log row gets tool_rounds, proxy_tool_calls, tool_time_ms and tool_loop_end.
 */
import { parseToolArguments } from "../protocol/ollama-request.ts";
import { contentText } from "../protocol/ollama-response.ts";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, ToolCall, Usage } from "../protocol/openai.ts";
import { encodeSSE, SSE_DONE, SSEParser } from "../protocol/sse.ts";
import { openAIErrorBody, ProxyError } from "../server/errors.ts";
import { runTool } from "../tools/registry.ts";
import { withIdleTimeout, type UpstreamReply } from "../upstream/http.ts";
import type { LoopPlan } from "./augment.ts";
import { callOptions, sendChat, type ChatContext } from "./index.ts";
import { errorMessageOf } from "../protocol/ollama-stream.ts";
import { rememberTurn, spliceScope } from "./splice.ts";

type StatusEvent = "calling_llm" | "executing_tool" | "tool_completed" | "processing_results";

/** How the loop ended, as the log row's tool_loop_end says it. */
type LoopEnd = "answer" | "client_tools" | "max_tool_rounds" | "upstream_error" | "client_disconnected";

interface ToolRun {
  name: string;
  /** The loop round it ran in, from 1. */
  round: number;
  ms: number;
  ok: boolean;
  error?: string;
  /** The model's arguments (JSON text, at most MAX_LOGGED_ARGUMENTS), only with `log.bodies`: they are conversation. */
  arguments?: string;
}

/** The log keeps this much of a call's arguments: enough to read them in the dashboard, bounded per row. */
const MAX_LOGGED_ARGUMENTS = 2_000;

const THINKING_TEXT: Record<StatusEvent, (tool: string | null) => string> = {
  calling_llm: () => "Thinking about the results…\n",
  executing_tool: (tool) => `Running ${tool}…\n`,
  tool_completed: (tool) => `${tool} finished.\n`,
  processing_results: () => "Reading the tool results…\n",
};

const round2 = (ms: number) => Math.round(ms * 100) / 100;
/** The log keeps this much of a reply body, as the tap does for replies passed through. */
const MAX_LOGGED_BODY = 1 << 20;

/**
 * A proxy call as the history sent back upstream carries it: arguments that are not a JSON object
 * (a reply cut by max_tokens, broken JSON) become "{}", because upstreams that render the history
 * refuse them (llama.cpp's chat templates: HTTP 500 "Failed to parse tool call arguments as JSON";
 * Ollama wants an object). The call's error result quotes the text the model wrote.
 */
function inHistory(call: ToolCall): ToolCall {
  const args: unknown = call.function.arguments;
  let valid: boolean;
  if (typeof args !== "string") valid = parseToolArguments(args) !== undefined;
  else {
    try {
      const parsed: unknown = JSON.parse(args);
      valid = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
    } catch {
      valid = false;
    }
  }
  return valid ? call : { ...call, function: { ...call.function, arguments: "{}" } };
}

/** One augmented request's loop: its bookkeeping and the steps both reply kinds share. */
class Loop {
  readonly controller = new AbortController();
  /** The client's disconnect or the stream's cancellation. */
  readonly signal: AbortSignal;
  readonly usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  private sawUsage = false;
  private toolRounds = 0;
  private readonly runs: ToolRun[] = [];
  private toolMs = 0;
  private exhausted = false;
  /** What the client was sent, for the log's response_body (`log.bodies`), at most MAX_LOGGED_BODY. */
  private sentText = "";
  messages: ChatMessage[];

  constructor(
    readonly ctx: ChatContext,
    readonly plan: LoopPlan,
  ) {
    const outer = ctx.exchange.signal;
    this.signal = outer ? AbortSignal.any([outer, this.controller.signal]) : this.controller.signal;
    this.messages = ctx.request.messages;
    this.history({ type: "request", request_id: ctx.exchange.requestId, model: plan.model.name, messages: ctx.request.messages });
  }

  get model(): string {
    return this.plan.model.name;
  }

  history(event: Record<string, unknown>): void {
    this.ctx.state.chats?.write(this.plan.model.name, this.plan.conversation, event);
  }

  addUsage(usage: Usage | null | undefined): void {
    if (!usage) return;
    this.sawUsage = true;
    this.usage.prompt_tokens += usage.prompt_tokens ?? 0;
    this.usage.completion_tokens += usage.completion_tokens ?? 0;
    this.usage.total_tokens += usage.total_tokens ?? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0);
  }

  /** The usage to report, when any round reported some. */
  get summedUsage(): Usage | undefined {
    return this.sawUsage ? { ...this.usage } : undefined;
  }

  /** Whether round `round` (0-based) is the last one, without proxy tools. */
  isFinal(round: number): boolean {
    const final = round >= this.plan.model.config.max_tool_rounds;
    if (final && !this.exhausted) {
      this.exhausted = true;
      console.error(`[${this.ctx.exchange.requestId}] llm-proxy: ${this.model} reached max_tool_rounds (${this.plan.model.config.max_tool_rounds}); calling it once more without proxy tools`);
    }
    return final;
  }

  /** Whether `name` is a proxy call in a round (never in the final one). */
  ownsCall(name: string | undefined, final: boolean): boolean {
    return !final && name !== undefined && this.plan.tools.get(name) !== undefined;
  }

  /** The request of one round: the history so far; the final round offers only the client's tools. */
  request(final: boolean, stream: boolean): ChatCompletionRequest {
    const request: ChatCompletionRequest = { ...this.ctx.request, messages: this.messages };
    if (stream) request.stream_options = { ...this.ctx.request.stream_options, include_usage: true };
    if (final) {
      const tools = (request.tools ?? []).filter((t) => this.plan.tools.get(t.function?.name) === undefined);
      if (tools.length > 0) request.tools = tools;
      else {
        delete request.tools;
        delete request.tool_choice;
        delete request.parallel_tool_calls;
      }
    }
    return request;
  }

  send(request: ChatCompletionRequest): Promise<UpstreamReply> {
    return sendChat(this.ctx.target, request, { ...callOptions(this.ctx.exchange), signal: this.signal }, this.ctx.exchange);
  }

  /**
   * Runs the proxy's calls concurrently.
   * @returns their `tool` messages, in call order
   * @throws the abort reason when the client goes away
   */
  async execute(calls: ToolCall[], status: (event: StatusEvent, tool: string | null, progress?: string) => void): Promise<ChatMessage[]> {
    this.toolRounds++;
    const started = performance.now();
    const timeoutMs = this.plan.model.config.tool_timeout_ms;
    const runs: ToolRun[] = new Array(calls.length);
    const results = await Promise.all(
      calls.map(async (call, i) => {
        const name = call.function.name;
        status("executing_tool", name);
        const began = performance.now();
        const args = parseToolArguments(call.function.arguments);
        const owned = this.plan.tools.get(name)!;
        const result = args
          ? await runTool(owned.source, name, args, { signal: this.signal, timeoutMs, onProgress: (progress) => status("executing_tool", name, progress) })
          : { content: JSON.stringify({ error: `the arguments of ${name} are not a JSON object`, arguments: call.function.arguments }), isError: true };
        const ms = round2(performance.now() - began);
        const run: ToolRun = { name, round: this.toolRounds, ms, ok: !result.isError };
        if (this.keepsBody) run.arguments = call.function.arguments.slice(0, MAX_LOGGED_ARGUMENTS);
        if (result.isError) run.error = result.content.slice(0, 200);
        runs[i] = run;
        this.history({ type: "tool_call", id: call.id, name, arguments: call.function.arguments, result: result.content, ok: !result.isError, ms });
        status("tool_completed", name);
        return { role: "tool", tool_call_id: call.id, content: result.content } satisfies ChatMessage;
      }),
    );
    this.toolMs += performance.now() - started;
    // In call order, not completion order: the log reads like the model's reply.
    this.runs.push(...runs);
    return results;
  }

  /** Appends a round whose calls were all the proxy's, and their results, to the history. */
  advance(content: string, calls: ToolCall[], results: ChatMessage[]): void {
    this.messages = [...this.messages, { role: "assistant", content: content || null, tool_calls: calls.map(inHistory) }, ...results];
  }

  /** Remembers a turn that called both kinds, for the client's next request. */
  remember(calls: { call: ToolCall; client: boolean }[], results: ChatMessage[]): void {
    const kept = calls.map((c) => (c.client ? c : { ...c, call: inHistory(c.call) }));
    rememberTurn(this.ctx.state.splices, spliceScope(this.model, this.plan.conversation), { calls: kept, results });
  }

  /** Whether the log keeps reply bodies (`log.bodies`). */
  get keepsBody(): boolean {
    return this.ctx.state.config.log.bodies;
  }

  /** Notes text sent to the client, when the log keeps bodies. */
  capture(text: string): void {
    if (this.keepsBody && this.sentText.length < MAX_LOGGED_BODY) this.sentText += text;
  }

  /** Completes the log row. */
  finish(end: LoopEnd, patch: { status?: number; finish_reason?: string | null; error?: string | null } = {}): void {
    const exhausted = this.exhausted && end === "answer" ? "max_tool_rounds" : end;
    this.ctx.exchange.finish({
      status: patch.status ?? 200,
      prompt_tokens: this.sawUsage ? this.usage.prompt_tokens : null,
      completion_tokens: this.sawUsage ? this.usage.completion_tokens : null,
      finish_reason: patch.finish_reason ?? null,
      error: patch.error ?? null,
      tool_rounds: this.toolRounds,
      proxy_tool_calls: this.runs,
      tool_time_ms: round2(this.toolMs),
      tool_loop_end: exhausted,
      response_body: this.keepsBody ? this.sentText.slice(0, MAX_LOGGED_BODY) : null,
    });
  }
}

/** The reply body, read with the upstream's idle timeout when it was handed over unguarded. */
function bodyOf(reply: UpstreamReply): ReadableStream<Uint8Array> | null {
  const body = reply.response.body;
  return body && reply.idle ? withIdleTimeout(body, reply.idle.ms, reply.idle.expire) : body;
}

function readFailure(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : new ProxyError(502, `upstream stream failed: ${(err as Error)?.message ?? err}`, "upstream_error", "upstream_stream_error");
}

/**
 * Reads a JSON reply whole.
 * @throws ProxyError 502/504 when the body cannot be read or is not JSON; the abort reason when the client left
 */
async function readCompletion(loop: Loop, reply: UpstreamReply): Promise<ChatCompletion> {
  let text: string;
  try {
    text = await new Response(bodyOf(reply)).text();
  } catch (err) {
    throw loop.signal.aborted ? err : readFailure(err);
  }
  loop.ctx.exchange.firstByte();
  try {
    return JSON.parse(text) as ChatCompletion;
  } catch {
    throw new ProxyError(502, `upstream answered with a body that is not JSON: ${text.slice(0, 200)}`, "upstream_error");
  }
}

/** An upstream error reply passed on with its status and body. */
async function upstreamError(loop: Loop, reply: UpstreamReply): Promise<Response> {
  const text = await new Response(bodyOf(reply)).text().catch(() => "");
  loop.finish("upstream_error", { status: reply.response.status, error: text.slice(0, 2000) });
  const headers = new Headers(reply.response.headers);
  for (const [k, v] of Object.entries(loop.ctx.exchange.responseHeaders)) headers.set(k, v);
  return new Response(text, { status: reply.response.status, headers });
}

/** Non-streaming loop: one chat.completion with the final answer (or the client's calls). */
async function runJson(loop: Loop): Promise<Response> {
  const { exchange } = loop.ctx;
  let content = "";
  for (let round = 0; ; round++) {
    const final = loop.isFinal(round);
    const reply = await loop.send(loop.request(final, false));
    if (reply.response.status >= 400) return upstreamError(loop, reply);
    const completion = await readCompletion(loop, reply);
    loop.addUsage(completion.usage);
    const choice = completion.choices?.[0];
    const message: ChatMessage = choice?.message ?? { role: "assistant", content: "" };
    // A server that sends no id still needs one: tool messages answer calls by id.
    const calls = (message.tool_calls ?? []).map((c, i) => (c.id ? c : { ...c, id: `call_${round}_${i}_${exchange.requestId.slice(0, 8)}` }));
    const proxy = calls.filter((c) => loop.ownsCall(c.function?.name, final));
    // The final round offers no proxy tools: a call of one there is dropped, not sent to the client.
    const client = calls.filter((c) => loop.plan.tools.get(c.function?.name) === undefined);
    content += contentText(message.content);
    loop.history({ type: "round", round, message, usage: completion.usage ?? null, finish_reason: choice?.finish_reason ?? null });

    const answer = (finishReason: string, end: LoopEnd) => {
      const out: ChatMessage = { ...message, content: content || (client.length > 0 ? null : "") };
      if (client.length > 0) out.tool_calls = client;
      else delete out.tool_calls;
      const usage = loop.summedUsage;
      const body: ChatCompletion = { ...completion, model: loop.model, choices: [{ index: 0, message: out, finish_reason: finishReason }] };
      if (usage) body.usage = usage;
      else delete body.usage;
      loop.history({ type: "answer", message: out, finish_reason: finishReason, usage: usage ?? null });
      const text = JSON.stringify(body);
      loop.capture(text);
      loop.finish(end, { finish_reason: finishReason });
      return new Response(text, { headers: { ...exchange.responseHeaders, "content-type": "application/json" } });
    };

    if (proxy.length === 0) {
      const reason = client.length > 0 ? "tool_calls" : choice?.finish_reason === "tool_calls" ? "stop" : (choice?.finish_reason ?? "stop");
      return answer(reason, client.length > 0 ? "client_tools" : "answer");
    }
    const results = await loop.execute(proxy, () => {});
    if (client.length > 0) {
      loop.remember(
        calls.map((call) => ({ call, client: client.includes(call) })),
        results,
      );
      return answer("tool_calls", "client_tools");
    }
    loop.advance(contentText(message.content), proxy, results);
  }
}

/** A whole chat.completion as the one chunk that carries all of it. */
function chunkOf(completion: ChatCompletion): ChatCompletionChunk {
  const choice = completion.choices?.[0];
  const message = choice?.message ?? { role: "assistant" };
  const delta: ChatCompletionChunk["choices"][number]["delta"] = {};
  if (typeof message.content === "string") delta.content = message.content;
  if (typeof message.reasoning_content === "string") delta.reasoning_content = message.reasoning_content;
  if (message.tool_calls?.length) delta.tool_calls = message.tool_calls.map((call, index) => ({ index, id: call.id, type: "function", function: call.function }));
  return { id: completion.id, object: "chat.completion.chunk", created: completion.created, model: completion.model, choices: [{ index: 0, delta, finish_reason: choice?.finish_reason ?? "stop" }], usage: completion.usage };
}

/** One tool call being streamed: who owns it and, for the client's, its index among the client's calls. */
interface StreamedCall {
  id: string;
  name: string;
  args: string;
  owner?: "proxy" | "client" | "dropped";
  clientIndex?: number;
}

type Delta = ChatCompletionChunk["choices"][number]["delta"];

const decoder = new TextDecoder();

/** Streaming loop: SSE to the client, round after round, one finish chunk and [DONE] at the end. */
async function runStream(loop: Loop, first: UpstreamReply): Promise<Response> {
  const { exchange } = loop.ctx;
  const id = `chatcmpl-${exchange.requestId}`;
  const created = Math.floor(Date.now() / 1000);
  const mode = loop.plan.model.status(loop.plan.front);
  const includeUsage = loop.ctx.request.stream_options?.include_usage === true;
  let sentRole = false;
  let closed = false;

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (value: unknown) => {
        if (closed) return;
        const bytes = encodeSSE(value);
        if (loop.keepsBody) loop.capture(decoder.decode(bytes));
        controller.enqueue(bytes);
      };
      const sendDelta = (delta: Delta, finishReason: string | null = null) => {
        if (!sentRole) {
          sentRole = true;
          delta = { role: "assistant", ...delta };
        }
        send({ id, object: "chat.completion.chunk", created, model: loop.model, choices: [{ index: 0, delta, finish_reason: finishReason }] });
      };
      // `progress`: what a long tool reports while it runs (MCP progress notifications).
      const status = (event: StatusEvent, tool: string | null, progress?: string) => {
        if (mode === "chunks") {
          send({ id, object: "chat.completion.chunk", created, model: loop.model, choices: [], proxy_status: { type: "tool_execution", status: event, tool_name: tool, ...(progress ? { progress } : {}) } });
        } else if (mode === "thinking") sendDelta({ reasoning_content: progress ? `${progress}…\n` : THINKING_TEXT[event](tool) });
      };
      const end = () => {
        if (closed) return;
        closed = true;
        controller.close();
      };

      /** Reads one round's reply, forwarding content and the client's calls as they arrive. */
      const readRound = async (reply: UpstreamReply, final: boolean, round: number) => {
        const calls = new Map<number, StreamedCall>();
        let content = "";
        let finishReason: string | null = null;
        let clientCalls = 0;
        /** One chunk of the reply: usage noted, content passed on, tool-call fragments sorted out. */
        const handle = (json: ChatCompletionChunk) => {
          const error = errorMessageOf(json);
          if (error !== undefined) throw new ProxyError(502, error, "upstream_error", "upstream_stream_error");
          loop.addUsage(json.usage);
          const choice = json.choices?.[0];
          if (!choice) return;
          const delta = choice.delta ?? {};
          const out: Delta = {};
          if (typeof delta.content === "string" && delta.content !== "") {
            out.content = delta.content;
            content += delta.content;
          }
          if (typeof delta.reasoning_content === "string" && delta.reasoning_content !== "") out.reasoning_content = delta.reasoning_content;
          if (typeof delta.reasoning === "string" && delta.reasoning !== "") out.reasoning = delta.reasoning;
          const forwarded: NonNullable<Delta["tool_calls"]> = [];
          for (const part of delta.tool_calls ?? []) {
            const index = part.index ?? 0;
            let call = calls.get(index);
            if (!call) calls.set(index, (call = { id: "", name: "", args: "" }));
            if (part.id) call.id = part.id;
            if (part.function?.name) call.name += part.function.name;
            const args: unknown = part.function?.arguments;
            const piece = args === undefined || args === null ? "" : typeof args === "string" ? args : JSON.stringify(args);
            call.args += piece;
            if (call.owner === undefined && call.name) {
              // A server that sends no id still needs one: tool messages answer calls by id.
              call.id ||= `call_${round}_${index}_${exchange.requestId.slice(0, 8)}`;
              call.owner = loop.ownsCall(call.name, final) ? "proxy" : loop.plan.tools.get(call.name) ? "dropped" : "client";
              if (call.owner === "client") {
                call.clientIndex = clientCalls++;
                forwarded.push({ index: call.clientIndex, id: call.id, type: "function", function: { name: call.name, arguments: call.args } });
                continue;
              }
            }
            if (call.owner === "client" && (piece || part.id)) {
              const fragment: NonNullable<Delta["tool_calls"]>[number] = { index: call.clientIndex!, function: { arguments: piece } };
              if (part.id) fragment.id = part.id;
              forwarded.push(fragment);
            }
          }
          if (forwarded.length > 0) out.tool_calls = forwarded;
          if (Object.keys(out).length > 0) sendDelta(out);
          if (choice.finish_reason) finishReason = choice.finish_reason;
        };
        const done = () => ({ content, calls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c), finishReason });

        // A server that answers a streamed request with JSON (some do when tools are present) still works.
        if (!(reply.response.headers.get("content-type") ?? "").includes("text/event-stream")) {
          handle(chunkOf(await readCompletion(loop, reply)));
          return done();
        }
        const source = bodyOf(reply);
        if (!source) return done();
        const reader = source.getReader();
        const parser = new SSEParser();
        try {
          for (;;) {
            let chunk: Awaited<ReturnType<typeof reader.read>>;
            try {
              chunk = await reader.read();
            } catch (err) {
              throw loop.signal.aborted ? err : readFailure(err);
            }
            if (!chunk.done) exchange.firstByte();
            for (const data of chunk.done ? parser.end() : parser.push(chunk.value)) {
              if (data === SSE_DONE) continue;
              let json: ChatCompletionChunk;
              try {
                json = JSON.parse(data) as ChatCompletionChunk;
              } catch {
                throw new ProxyError(502, `upstream sent a malformed stream event: ${data.slice(0, 200)}`, "upstream_error", "upstream_stream_error");
              }
              handle(json);
            }
            if (chunk.done) break;
          }
        } catch (err) {
          // The rest of this reply is not wanted: free the upstream connection now.
          await reader.cancel().catch(() => {});
          throw err;
        } finally {
          reader.releaseLock();
        }
        return done();
      };

      const drive = async () => {
        let reply = first;
        let answered = "";
        for (let round = 0; ; round++) {
          const final = loop.isFinal(round);
          if (round > 0) {
            status("calling_llm", null);
            reply = await loop.send(loop.request(final, true));
            if (reply.response.status >= 400) {
              const text = await new Response(bodyOf(reply)).text().catch(() => "");
              let message = `upstream answered HTTP ${reply.response.status}`;
              try {
                message = errorMessageOf(JSON.parse(text)) ?? message;
              } catch {
                // not JSON: the status says enough
              }
              throw new ProxyError(reply.response.status, message, "upstream_error", "upstream_error");
            }
          }
          const result = await readRound(reply, final, round);
          answered += result.content;
          const toolCalls: ToolCall[] = result.calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.args } }));
          const proxy = toolCalls.filter((_, i) => result.calls[i]!.owner === "proxy");
          const client = toolCalls.filter((_, i) => result.calls[i]!.owner === "client");
          loop.history({ type: "round", round, message: { role: "assistant", content: result.content || null, tool_calls: toolCalls.length ? toolCalls : undefined }, finish_reason: result.finishReason });

          const finishWith = (reason: string, how: LoopEnd) => {
            sendDelta({}, reason);
            const usage = loop.summedUsage;
            if (includeUsage && usage) send({ id, object: "chat.completion.chunk", created, model: loop.model, choices: [], usage });
            send(SSE_DONE);
            loop.history({ type: "answer", message: { role: "assistant", content: answered || null, tool_calls: client.length ? client : undefined }, finish_reason: reason, usage: usage ?? null });
            loop.finish(how, { finish_reason: reason });
            end();
          };
          if (proxy.length === 0) {
            const reason = client.length > 0 ? "tool_calls" : result.finishReason === "tool_calls" || !result.finishReason ? "stop" : result.finishReason;
            return finishWith(reason, client.length > 0 ? "client_tools" : "answer");
          }
          const results = await loop.execute(proxy, status);
          if (client.length > 0) {
            loop.remember(
              toolCalls.map((call, i) => ({ call, client: result.calls[i]!.owner === "client" })),
              results,
            );
            return finishWith("tool_calls", "client_tools");
          }
          status("processing_results", null);
          loop.advance(result.content, proxy, results);
        }
      };
      drive().catch((err: unknown) => {
        if (loop.signal.aborted) {
          loop.finish("client_disconnected", { status: 499, error: "client disconnected" });
          end();
          return;
        }
        const failure = err instanceof ProxyError ? err : new ProxyError(502, `tool loop failed: ${(err as Error)?.message ?? err}`, "upstream_error");
        send(openAIErrorBody(failure));
        loop.finish("upstream_error", { status: 200, error: failure.message });
        end();
      });
    },
    cancel(reason) {
      closed = true;
      loop.controller.abort(reason ?? new Error("client disconnected"));
    },
  });
  return new Response(body, { status: 200, headers: { ...exchange.responseHeaders, "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/**
 * Runs the loop for an augmented request (after the stages).
 * @returns an OpenAI-shaped Response: SSE when `request.stream`, else JSON; an upstream error
 *   status of the first call is passed on with its body
 * @throws ProxyError for the proxy's own failures (unreachable upstream, timeout, malformed reply);
 *   the abort reason when the client goes away before the reply starts
 */
export async function runToolLoop(ctx: ChatContext, plan: LoopPlan): Promise<Response> {
  const loop = new Loop(ctx, plan);
  try {
    if (ctx.request.stream !== true) return await runJson(loop);
    const first = await loop.send(loop.request(loop.isFinal(0), true));
    if (first.response.status >= 400) return await upstreamError(loop, first);
    return await runStream(loop, first);
  } catch (err) {
    // The row gets the loop's figures here; the caller answers the client (and its finish is then a no-op).
    if (loop.signal.aborted) loop.finish("client_disconnected", { status: 499, error: "client disconnected" });
    else if (err instanceof ProxyError) loop.finish("upstream_error", { status: err.status, error: err.message });
    throw err;
  }
}
