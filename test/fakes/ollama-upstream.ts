/**
 * A fake native Ollama server on loopback, for tests and benchmarks. It frames replies as Ollama
 * does (docs/api.md): NDJSON objects one per line, each tool call whole in one line with `arguments`
 * an object and no id, a final `done: true` object with durations in ns and token counts; and it
 * records every request it receives.
 */

export interface FakeOllamaReply {
  /** HTTP status; with `error`, a fixed `{"error": ...}` reply. */
  status?: number;
  error?: string;
  /** Assistant text, split into this many stream lines (default 4). */
  content?: string;
  chunks?: number;
  thinking?: string;
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
  /** Stream only: send an `{"error": ...}` line after this many lines and end. */
  errorAfterLines?: number;
  done_reason?: string;
}

export interface RecordedOllamaRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
}

const encoder = new TextEncoder();

export class FakeOllamaUpstream {
  readonly requests: RecordedOllamaRequest[] = [];
  /** Replies for the next /api/chat requests, consumed in order. */
  readonly script: FakeOllamaReply[] = [];
  models: string[];
  /** Computes the vectors /api/embed answers (default: a 3-dimension placeholder per input). */
  embed: ((texts: string[]) => Promise<number[][]>) | undefined;
  private readonly server: ReturnType<typeof Bun.serve>;

  constructor(options: { models?: string[] } = {}) {
    this.models = options.models ?? ["llama3.2:latest", "qwen3:8b"];
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => this.handle(req) });
  }

  /** Base URL (no /v1), as an Ollama upstream is configured. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  get chatRequests(): RecordedOllamaRequest[] {
    return this.requests.filter((r) => r.path === "/api/chat");
  }

  stop(): void {
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const raw = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return Response.json({ error: "invalid character in request body" }, { status: 400 });
    }
    this.requests.push({ method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body });

    switch (url.pathname) {
      case "/api/tags":
        return Response.json({
          models: this.models.map((name) => ({
            name,
            model: name,
            modified_at: "2025-01-01T00:00:00Z",
            size: 1_000_000,
            digest: "0".repeat(64),
            details: { parent_model: "", format: "gguf", family: "llama", families: ["llama"], parameter_size: "3.2B", quantization_level: "Q4_K_M" },
          })),
        });
      case "/api/show":
        if (!this.models.includes(body?.model)) return Response.json({ error: `model '${body?.model}' not found` }, { status: 404 });
        return Response.json({
          license: "",
          modelfile: `FROM ${body.model}`,
          parameters: "num_ctx 4096",
          template: "{{ .Prompt }}",
          details: { parent_model: "", format: "gguf", family: "llama", families: ["llama"], parameter_size: "3.2B", quantization_level: "Q4_K_M" },
          model_info: { "general.architecture": "llama", "llama.context_length": 131072 },
          capabilities: ["completion", "tools", "thinking"],
          modified_at: "2025-01-01T00:00:00Z",
        });
      case "/api/embed": {
        const inputs: unknown[] = Array.isArray(body.input) ? body.input : [body.input];
        const embeddings = this.embed ? await this.embed(inputs as string[]) : inputs.map((_, i) => [0.1, 0.2, i]);
        return Response.json({ model: body.model, embeddings, total_duration: 1000, load_duration: 0, prompt_eval_count: inputs.length * 3 });
      }
      case "/api/chat":
        return this.chat(body);
      default:
        return new Response("404 page not found", { status: 404 });
    }
  }

  private chat(body: any): Response {
    if (!this.models.includes(body.model)) return Response.json({ error: `model "${body.model}" not found, try pulling it first` }, { status: 404 });
    const reply = this.script.shift() ?? {};
    if (reply.error !== undefined && reply.errorAfterLines === undefined) return Response.json({ error: reply.error }, { status: reply.status ?? 500 });
    const base = () => ({ model: body.model, created_at: new Date().toISOString() });
    const text = reply.toolCalls ? "" : (reply.content ?? "Hello from fake Ollama.");
    const calls = reply.toolCalls?.map((c) => ({ function: { name: c.name, arguments: c.arguments } }));
    const stats = {
      done_reason: reply.done_reason ?? "stop",
      total_duration: 5_000_000,
      load_duration: 1_000,
      prompt_eval_count: 21,
      prompt_eval_duration: 2_000_000,
      eval_count: 7,
      eval_duration: 3_000_000,
    };
    if (body.stream === false) {
      const message: Record<string, unknown> = { role: "assistant", content: text };
      if (reply.thinking) message.thinking = reply.thinking;
      if (calls) message.tool_calls = calls;
      return Response.json({ ...base(), message, done: true, ...stats });
    }
    const lines: object[] = [];
    if (reply.thinking) lines.push({ ...base(), message: { role: "assistant", content: "", thinking: reply.thinking }, done: false });
    const n = Math.max(1, reply.chunks ?? 4);
    const size = Math.ceil(text.length / n);
    for (let i = 0; i < n && text; i++) lines.push({ ...base(), message: { role: "assistant", content: text.slice(i * size, (i + 1) * size) }, done: false });
    if (calls) lines.push({ ...base(), message: { role: "assistant", content: "", tool_calls: calls }, done: false });
    lines.push({ ...base(), message: { role: "assistant", content: "" }, done: true, ...stats });
    if (reply.errorAfterLines !== undefined) lines.splice(reply.errorAfterLines, lines.length, { error: reply.error ?? "fake Ollama failed" });
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent < lines.length) controller.enqueue(encoder.encode(`${JSON.stringify(lines[sent++])}\n`));
        else controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  }
}
