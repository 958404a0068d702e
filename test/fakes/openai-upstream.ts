/**
 * A fake OpenAI-compatible LLM server on loopback, for tests and benchmarks. It frames SSE as real
 * servers do (`data: {...}\n\n`, tool-call argument fragments keyed by index, a usage chunk when
 * `stream_options.include_usage` is set, `data: [DONE]`), records every request it receives, and
 * plays scripted faults (status + Retry-After, delays, a connection cut mid-stream).
 */

export interface FakeReply {
  /** HTTP status; with `body`, a fixed reply (JSON-encoded unless a string). */
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Wait before sending the response headers. */
  delayMs?: number;
  /** Assistant text, split into this many stream chunks (default 5). */
  content?: string;
  chunks?: number;
  /** Reply with these tool calls instead of text (after `content`, when both are given). */
  /** `arguments` as an object is sent as its JSON text; a string is sent as is (a model's truncated or broken JSON). */
  toolCalls?: { name: string; arguments: Record<string, unknown> | string; id?: string }[];
  /** Stream each tool call whole in one chunk, instead of as id+name then two argument fragments. */
  wholeToolCalls?: boolean;
  /** Reasoning text, sent as `reasoning_content` before the content. */
  reasoning?: string;
  /** Stream only: cut the connection after this many chunks. */
  dieAfterChunks?: number;
  /** Stream only: pause between chunks. */
  chunkDelayMs?: number;
  /** Stream only: keep the connection open this long after `data: [DONE]` before closing it. */
  holdAfterDoneMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
  /** The body exactly as received. */
  raw: string;
}

export interface FakeUpstreamOptions {
  models?: string[];
  /** Used when the script is empty. */
  reply?: FakeReply;
  /**
   * A context size, as llama.cpp's `-c`: reported by `GET /props` and `/v1/models` (`meta.n_ctx`),
   * and a chat request whose prompt (counted as the JSON of its messages and tools / 4) exceeds it
   * gets llama.cpp's HTTP 400 `exceed_context_size_error`; usage counts the prompt the same way.
   */
  nCtx?: number;
  /** Characters per token of that count (default 4): a smaller value plays a tokenizer that needs more tokens. */
  charsPerToken?: number;
}

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const argumentsText = (args: Record<string, unknown> | string) => (typeof args === "string" ? args : JSON.stringify(args));

export class FakeOpenAIUpstream {
  readonly requests: RecordedRequest[] = [];
  /** Replies for the next chat requests, consumed in order. */
  readonly script: FakeReply[] = [];
  /** Streams the client stopped reading before the end. */
  disconnects = 0;
  /** The exact text of every SSE stream sent, in order (for byte-for-byte checks). */
  readonly streamsSent: string[] = [];
  models: string[];
  /** Wait before answering GET /models. */
  modelsDelayMs = 0;
  /** Answer GET /models with this status and an OpenAI error body when not 200 (e.g. 401). */
  modelsStatus = 200;
  /** Computes the vectors /v1/embeddings answers (default: a 3-dimension placeholder per input). */
  embed: ((texts: string[]) => Promise<number[][]>) | undefined;
  private readonly server: ReturnType<typeof Bun.serve>;

  constructor(private readonly options: FakeUpstreamOptions = {}) {
    this.models = options.models ?? ["fake-model", "org/fake-model-2"];
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => this.handle(req) });
  }

  /** Base URL including /v1. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}/v1`;
  }

  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === "/v1/chat/completions");
  }

  stop(): void {
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const raw = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    let body: any = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // not JSON: kept as text
    }
    this.requests.push({ method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body, raw });

    if (url.pathname === "/props" && this.options.nCtx) {
      return Response.json({ default_generation_settings: { n_ctx: this.options.nCtx }, total_slots: 1, model_alias: this.models[0] });
    }
    if (url.pathname === "/v1/models") {
      if (this.modelsDelayMs) await sleep(this.modelsDelayMs);
      if (this.modelsStatus !== 200) {
        return Response.json({ error: { message: `fake models error ${this.modelsStatus}`, type: "invalid_request_error", param: null, code: null } }, { status: this.modelsStatus });
      }
      const meta = this.options.nCtx ? { meta: { n_ctx: this.options.nCtx } } : {};
      return Response.json({ object: "list", data: this.models.map((id) => ({ id, object: "model", created: 0, owned_by: "fake", ...meta })) });
    }
    if (url.pathname === "/v1/embeddings") {
      const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input];
      const vectors = this.embed ? await this.embed(inputs as string[]) : inputs.map((_, index) => [0.5, -0.25, index]);
      const data = vectors.map((embedding, index) => ({ object: "embedding", index, embedding }));
      return Response.json({ object: "list", data, model: body.model, usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } });
    }
    if (url.pathname !== "/v1/chat/completions") {
      return Response.json({ echo: { method: req.method, path: url.pathname, query: url.search, body: raw } }, { status: 201, headers: { "x-fake": "passthrough" } });
    }

    const nCtx = this.options.nCtx;
    if (nCtx && this.promptTokens(body) > nCtx) {
      const n = this.promptTokens(body);
      const message = `request (${n} tokens) exceeds the available context size (${nCtx} tokens), try increasing it`;
      return Response.json({ error: { code: 400, message, type: "exceed_context_size_error", n_prompt_tokens: n, n_ctx: nCtx } }, { status: 400 });
    }
    const reply = this.script.shift() ?? this.options.reply ?? {};
    if (reply.delayMs) await sleep(reply.delayMs);
    if (reply.body !== undefined || (reply.status && reply.status >= 400)) {
      const payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? { error: { message: `fake error ${reply.status}`, type: "server_error", param: null, code: null } });
      return new Response(payload, { status: reply.status ?? 200, headers: { "content-type": "application/json", ...reply.headers } });
    }
    return body?.stream ? this.stream(body, reply, req.signal) : Response.json(this.completion(body, reply), { headers: reply.headers });
  }

  /** The prompt's tokens as this fake counts them when it has a context size: the JSON of messages and tools / charsPerToken. */
  promptTokens(body: any): number {
    return Math.ceil(JSON.stringify({ messages: body.messages ?? [], tools: body.tools ?? [] }).length / (this.options.charsPerToken ?? 4));
  }

  private usage(body: any, reply: FakeReply) {
    const prompt_tokens = this.options.nCtx ? this.promptTokens(body) : Math.ceil(JSON.stringify(body.messages ?? []).length / 4);
    const completion_tokens = Math.ceil((reply.content ?? "Hello from the fake upstream.").length / 4);
    return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
  }

  private completion(body: any, reply: FakeReply) {
    const toolCalls = reply.toolCalls?.map((c, i) => ({ id: c.id ?? `call_${i}`, type: "function", function: { name: c.name, arguments: argumentsText(c.arguments) } }));
    const message: Record<string, unknown> = toolCalls
      ? { role: "assistant", content: reply.content ?? null, tool_calls: toolCalls }
      : { role: "assistant", content: reply.content ?? "Hello from the fake upstream." };
    if (reply.reasoning) message.reasoning_content = reply.reasoning;
    return {
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 1_700_000_000,
      model: body.model,
      choices: [{ index: 0, message, finish_reason: toolCalls ? "tool_calls" : "stop" }],
      usage: this.usage(body, reply),
    };
  }

  /** The SSE events of a streamed reply, as JSON objects. */
  private events(body: any, reply: FakeReply): object[] {
    const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model: body.model };
    const chunk = (delta: object, finish_reason: string | null = null) => ({ ...base, choices: [{ index: 0, delta, finish_reason }] });
    const events: object[] = [chunk({ role: "assistant", content: "" })];
    if (reply.reasoning) events.push(chunk({ reasoning_content: reply.reasoning }));
    if (reply.toolCalls) {
      if (reply.content) events.push(chunk({ content: reply.content }));
      reply.toolCalls.forEach((call, index) => {
        const args = argumentsText(call.arguments);
        const id = call.id ?? `call_${index}`;
        if (reply.wholeToolCalls) {
          events.push(chunk({ tool_calls: [{ index, id, type: "function", function: { name: call.name, arguments: args } }] }));
          return;
        }
        const cut = Math.ceil(args.length / 2);
        events.push(chunk({ tool_calls: [{ index, id, type: "function", function: { name: call.name, arguments: "" } }] }));
        events.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(0, cut) } }] }));
        events.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(cut) } }] }));
      });
      events.push(chunk({}, "tool_calls"));
    } else {
      const text = reply.content ?? "Hello from the fake upstream.";
      const n = Math.max(1, reply.chunks ?? 5);
      const size = Math.ceil(text.length / n);
      for (let i = 0; i < n; i++) events.push(chunk({ content: text.slice(i * size, (i + 1) * size) }));
      events.push(chunk({}, "stop"));
    }
    if (body.stream_options?.include_usage) events.push({ ...base, choices: [], usage: this.usage(body, reply) });
    return events;
  }

  private stream(body: any, reply: FakeReply, signal: AbortSignal): Response {
    const events = this.events(body, reply);
    const transcript = this.streamsSent.push("") - 1;
    const send = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
      this.streamsSent[transcript] += text;
      controller.enqueue(encoder.encode(text));
    };
    let sent = 0;
    let finished = false;
    const disconnected = () => {
      if (!finished) this.disconnects++;
      finished = true;
    };
    signal.addEventListener("abort", disconnected);
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (reply.chunkDelayMs && sent > 0) await sleep(reply.chunkDelayMs);
        if (reply.dieAfterChunks !== undefined && sent >= reply.dieAfterChunks) {
          finished = true;
          // Let the chunks already sent leave the socket first, so the cut is really mid-stream.
          await sleep(20);
          controller.error(new Error("fake upstream died"));
          return;
        }
        if (sent < events.length) {
          send(controller, `data: ${JSON.stringify(events[sent++])}\n\n`);
          return;
        }
        finished = true;
        send(controller, "data: [DONE]\n\n");
        if (reply.holdAfterDoneMs) await sleep(reply.holdAfterDoneMs);
        controller.close();
      },
      cancel: disconnected,
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...reply.headers } });
  }
}
