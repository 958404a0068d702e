/**
 * One MCP server: its connection (the SDK `Client` over stdio, SSE or Streamable HTTP), its cached
 * tool list and its calls. Connects in the background; when the connection is lost (process exit,
 * failed liveness ping, transport error) it reconnects with exponential backoff, so a server that
 * crashes in a loop is cooled down (up to 5 min between starts) instead of restarted hot.
 *
 * Calls follow https://modelcontextprotocol.io/specification/2025-06-18/server/tools: arguments are
 * validated against the tool's `inputSchema` first (a bad call is an error result, not a round
 * trip); a timeout or the caller's abort sends `notifications/cancelled` (the SDK does); progress
 * notifications restart the server's `timeout_ms`, up to the caller's `timeoutMs` in all. A call is never replayed after a
 * connection loss (it may not be idempotent): the model gets an error result. The one exception is a
 * Streamable HTTP or SSE session the server has forgotten (HTTP 404, or 400 naming the session,
 * after the server restarted): the server refused the request without running it, so the session is
 * re-initialised and the call sent once more.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { Tool as McpTool } from "@modelcontextprotocol/sdk/types.js";
import type { JsonSchemaType, JsonSchemaValidator } from "@modelcontextprotocol/sdk/validation";
import type { McpServerConfig } from "../../config/mcp.ts";
import { mcpServerSecrets, redact } from "../../config/secrets.ts";
import { VERSION } from "../../version.ts";
import type { ToolCallOptions, ToolResult } from "../source.ts";
import { toToolResult } from "./result.ts";
import { CallStats, type CallStatsSnapshot } from "./stats.ts";

/** The MCP SDK, loaded by the first connect (sdk.ts says why); every use below comes after one. */
let sdk: typeof import("./sdk.ts") | undefined;
/** The loaded SDK; only called where a connect has begun. */
const SDK = () => sdk!;

export type McpServerState = "connecting" | "ready" | "down" | "stopped";

/** What `/health` and `GET /admin/mcp` show of one server. */
export interface McpServerStatus extends CallStatsSnapshot {
  name: string;
  type: McpServerConfig["type"];
  state: McpServerState;
  /** The tools as the server names them. */
  tools: string[];
  last_error: string | null;
  /** ISO 8601: the last time the server answered (connect, list, ping or call). */
  last_ok_at: string | null;
  /** Wall time of the last successful connect (start, initialize, first tool list), ms. */
  connect_ms: number | null;
  /** Connections lost since the proxy started. */
  restarts: number;
  /** ISO 8601, while waiting to reconnect. */
  next_retry_at: string | null;
  /** Arguments refused by the tool's inputSchema before any round trip. */
  rejected: number;
  /** stdio: the server's pid (its process group id). */
  pid: number | null;
}

/** First reconnect after a loss: a restarted server is usually back within a second. */
const BACKOFF_BASE_MS = 1000;
/** Longest wait between reconnects: bounds both the cost of a crash loop and the staleness of a fix. */
const BACKOFF_MAX_MS = 300_000;
/** A connection that lived this long was healthy: the next loss starts the backoff again. */
const STABLE_AFTER_MS = 60_000;
/** Pages of tools/list followed before giving up on a server whose cursor never ends. */
const MAX_LIST_PAGES = 100;
/** tools/list_changed notifications often come in bursts (one per registered tool). */
const LIST_CHANGED_DEBOUNCE_MS = 100;

/** `error` when the Streamable HTTP / SSE server no longer knows our session. */
function isSessionLost(error: unknown): boolean {
  if (!sdk || !(error instanceof sdk.StreamableHTTPError || error instanceof sdk.SseError)) return false;
  return error.code === 404 || (error.code === 400 && /session/i.test(error.message));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** An error's message, cut to 300 characters, without `secrets`. */
function errorText(error: unknown, secrets: readonly string[]): string {
  const text = redact(error instanceof Error ? error.message : String(error), secrets);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** The tool's inputSchema without `$schema` (Ajv would try to load a 2020-12 meta-schema it does not have). */
function schemaForValidation(schema: McpTool["inputSchema"]): JsonSchemaType {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return rest as JsonSchemaType;
}

export interface McpConnectionHooks {
  /** Called when the set of tools that can run changed (connected, lost, list refreshed). */
  onToolsChanged(): void;
  /** Runs a connect attempt under the manager's concurrency limit. */
  limit<T>(task: () => Promise<T>): Promise<T>;
}

/**
 * The connection to one configured MCP server: `start()` connects in the background, `listTools()`
 * is the cached list (empty while down), `call()` runs one tool (see the module comment for the
 * rules), `status()` feeds /health and /admin/mcp, `close()` ends it (and a stdio server's process group).
 */
export class McpConnection {
  state: McpServerState = "connecting";
  private tools: McpTool[] = [];
  private toolsByName = new Map<string, McpTool>();
  private validators = new Map<string, JsonSchemaValidator<unknown>>();
  /** Bumped for every new client: callbacks of an older client are ignored. */
  private generation = 0;
  private current: { client: Client; transport: Transport } | undefined;
  private loop: Promise<void> | undefined;
  private firstAttempt: Promise<void>;
  private resolveFirstAttempt!: () => void;
  private readonly stopping = new AbortController();
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private checking = false;
  private failures = 0;
  private connectedAt = 0;
  private lastError: string | null = null;
  private lastOkAt: number | null = null;
  private connectMs: number | null = null;
  private restarts = 0;
  private nextRetryAt: number | null = null;
  private rejected = 0;
  /** The transport's last error during a connect attempt. */
  private connectError: Error | undefined;
  private loggedDown: string | null = null;
  private readonly stats = new CallStats();
  /** The server's credentials, kept out of errors (which reach /health, the log and the model). */
  private readonly secrets: string[];

  constructor(
    readonly config: McpServerConfig,
    private readonly hooks: McpConnectionHooks,
  ) {
    this.firstAttempt = new Promise((resolve) => (this.resolveFirstAttempt = resolve));
    this.secrets = mcpServerSecrets(config);
  }

  get name(): string {
    return this.config.name;
  }

  /** Starts connecting in the background. */
  start(): void {
    this.loop ??= this.run(0);
  }

  /** Resolves when the first connect attempt has finished, either way. */
  ready(): Promise<void> {
    return this.firstAttempt;
  }

  /** The server's tools when it is connected, else none. */
  listTools(): readonly McpTool[] {
    return this.state === "ready" ? this.tools : [];
  }

  status(): McpServerStatus {
    const transport = this.current?.transport;
    return {
      name: this.name,
      type: this.config.type,
      state: this.state,
      tools: this.listTools().map((t) => t.name),
      last_error: this.lastError,
      last_ok_at: this.lastOkAt === null ? null : new Date(this.lastOkAt).toISOString(),
      connect_ms: this.connectMs,
      restarts: this.restarts,
      next_retry_at: this.nextRetryAt === null ? null : new Date(this.nextRetryAt).toISOString(),
      ...this.stats.snapshot(),
      rejected: this.rejected,
      pid: sdk && transport instanceof sdk.BunStdioTransport ? (transport.pid ?? null) : null,
    };
  }

  /**
   * Calls `tool` (the server's name for it). Resolves with an error result for every failure of the
   * tool or the connection; rejects only when `options.signal` aborts (the server is told).
   * The wait is the server's `timeout_ms` without news (an answer or a progress notification), and
   * `options.timeoutMs` in all.
   */
  async call(tool: string, args: Record<string, unknown>, options: ToolCallOptions, label = tool): Promise<ToolResult> {
    options.signal?.throwIfAborted();
    if (this.state !== "ready" || !this.current) {
      return { isError: true, content: `MCP server '${this.name}' is not connected (${this.state}${this.lastError ? `: ${this.lastError}` : ""}); try again later` };
    }
    if (!this.toolsByName.has(tool)) return { isError: true, content: `MCP server '${this.name}' has no tool '${tool}' (any more)` };
    const validate = this.validators.get(tool);
    if (validate) {
      const check = validate(args);
      if (!check.valid) {
        this.rejected++;
        return { isError: true, content: `invalid arguments for ${label}: ${check.errorMessage}. Call it again with arguments that match its parameters.` };
      }
    }
    const started = performance.now();
    const result = await this.send(tool, args, options, label);
    this.stats.record(performance.now() - started, result.isError === true);
    return result;
  }

  private async send(tool: string, args: Record<string, unknown>, options: ToolCallOptions, label: string, renewed = false): Promise<ToolResult> {
    const { client } = this.current!;
    const generation = this.generation;
    const timeout = Math.min(this.config.timeout_ms, options.timeoutMs);
    try {
      const result = await client.callTool({ name: tool, arguments: args }, undefined, {
        signal: options.signal,
        timeout,
        resetTimeoutOnProgress: true,
        maxTotalTimeout: options.timeoutMs,
        // Always asked for: progress is what lets a long call outlive `timeout`.
        onprogress: (p) => options.onProgress?.(`${p.message ?? label}${p.total ? ` (${p.progress}/${p.total})` : ` (${p.progress})`}`),
      });
      this.lastOkAt = Date.now();
      return toToolResult(result);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (isSessionLost(error) && !renewed) {
        await this.renew(generation, errorText(error, this.secrets));
        if (this.state !== "ready") return { isError: true, content: `MCP server '${this.name}' lost its session and could not be reconnected: ${this.lastError}` };
        return this.send(tool, args, options, label, true);
      }
      const { McpError, ErrorCode } = SDK();
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
        const why = /total/i.test(error.message) ? `after ${options.timeoutMs} ms in all` : `with no answer or progress for ${timeout} ms`;
        return { isError: true, content: `${label} timed out ${why} (MCP server '${this.name}'; the call was cancelled)` };
      }
      if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) {
        return { isError: true, content: `the connection to MCP server '${this.name}' was lost during ${label}; it was not retried because it may have had effects. Call it again only if that is safe.` };
      }
      if (error instanceof McpError) return { isError: true, content: `${label} failed: ${errorText(error, this.secrets)}` };
      // A transport failure: we cannot know whether the server ran the call. Check the connection.
      void this.check(generation);
      return { isError: true, content: `${label} failed on MCP server '${this.name}': ${errorText(error, this.secrets)}; it was not retried because it may have had effects.` };
    }
  }

  /** Stops the server (stdio: its whole process group) and any reconnect. */
  async close(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    this.generation++;
    this.stopping.abort();
    this.stopPing();
    this.resolveFirstAttempt();
    const current = this.current;
    this.current = undefined;
    if (current) await this.dispose(current, true);
  }

  // --- connecting ---------------------------------------------------------------------------------

  private async run(delayMs: number): Promise<void> {
    let delay = delayMs;
    while (!this.stopping.signal.aborted) {
      if (delay > 0) {
        this.nextRetryAt = Date.now() + delay;
        await sleep(delay, this.stopping.signal);
        this.nextRetryAt = null;
        if (this.stopping.signal.aborted) break;
      }
      const connected = await this.hooks.limit(() => this.attempt());
      this.resolveFirstAttempt();
      if (connected) break;
      delay = this.backoffMs();
    }
    this.loop = undefined;
  }

  /** Exponential, with ±20% jitter so proxies restarted together do not reconnect in lockstep. */
  private backoffMs(): number {
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, this.failures - 1));
    return Math.round(exp * (0.8 + Math.random() * 0.4));
  }

  private createTransport(): Transport {
    const { config } = this;
    const { BunStdioTransport, SSEClientTransport, StreamableHTTPClientTransport } = SDK();
    if (config.type === "stdio") {
      return new BunStdioTransport({
        command: config.command!,
        args: config.args,
        env: config.env,
        cwd: config.cwd,
        onStderr: (line) => console.error(`llm-proxy: mcp ${this.name}: ${line}`),
      });
    }
    const requestInit = { headers: config.headers };
    const url = new URL(config.url!);
    return config.type === "sse" ? new SSEClientTransport(url, { requestInit }) : new StreamableHTTPClientTransport(url, { requestInit });
  }

  /** One connect: start, initialize, first tool list, all within connect_timeout_ms. */
  private async attempt(): Promise<boolean> {
    sdk ??= await import("./sdk.ts");
    if (this.stopping.signal.aborted) return false;
    const generation = ++this.generation;
    this.state = "connecting";
    this.connectError = undefined;
    const started = performance.now();
    const transport = this.createTransport();
    const client = new (SDK().Client)(
      { name: "llm-proxy", version: VERSION },
      {
        capabilities: {},
        listChanged: { tools: { autoRefresh: false, debounceMs: LIST_CHANGED_DEBOUNCE_MS, onChanged: () => void this.refreshTools(generation) } },
      },
    );
    client.onclose = () => this.lost(generation, "connection closed");
    client.onerror = (error) => this.transportError(generation, error);
    this.current = { client, transport };
    const timeout = this.config.connect_timeout_ms;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within connect_timeout_ms (${timeout} ms)`)), timeout);
      });
      const tools = await Promise.race([
        (async () => {
          await client.connect(transport, { timeout });
          return this.fetchTools(client, timeout);
        })(),
        deadline,
      ]);
      if (generation !== this.generation) return false;
      this.setTools(tools);
      this.connectMs = Math.round(performance.now() - started);
      this.connectedAt = this.lastOkAt = Date.now();
      this.lastError = null;
      this.state = "ready";
      this.startPing(generation);
      if (this.loggedDown !== null || this.restarts === 0) {
        console.log(`llm-proxy: mcp ${this.name}: connected (${this.config.type}, ${tools.length} tools, ${this.connectMs} ms)`);
      }
      this.loggedDown = null;
      this.hooks.onToolsChanged();
      return true;
    } catch (error) {
      if (generation !== this.generation) return false;
      this.current = undefined;
      void this.dispose({ client, transport }, false);
      this.failures++;
      const closed = error instanceof SDK().McpError && error.code === SDK().ErrorCode.ConnectionClosed;
      this.markDown(errorText(closed && this.connectError ? this.connectError : error, this.secrets));
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async fetchTools(client: Client, timeout: number): Promise<McpTool[]> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await client.listTools(cursor ? { cursor } : undefined, { timeout });
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    return tools;
  }

  private setTools(tools: McpTool[]): void {
    // A fresh Ajv per list: Ajv caches every schema it compiled, and lists change over a long run.
    const ajv = new (SDK().AjvJsonSchemaValidator)();
    const validators = new Map<string, JsonSchemaValidator<unknown>>();
    for (const tool of tools) {
      try {
        validators.set(tool.name, ajv.getValidator(schemaForValidation(tool.inputSchema)));
      } catch (error) {
        // Validation is a convenience for the model: a schema Ajv cannot compile only skips it.
        console.warn(`llm-proxy: mcp ${this.name}: tool ${tool.name}: inputSchema not usable for validation (${errorText(error, this.secrets)}); arguments are sent unchecked`);
      }
    }
    this.tools = tools;
    this.toolsByName = new Map(tools.map((t) => [t.name, t]));
    this.validators = validators;
  }

  private async refreshTools(generation: number): Promise<void> {
    const client = this.current?.client;
    if (generation !== this.generation || this.state !== "ready" || !client) return;
    try {
      const tools = await this.fetchTools(client, this.config.connect_timeout_ms);
      if (generation !== this.generation) return;
      this.setTools(tools);
      this.lastOkAt = Date.now();
      this.hooks.onToolsChanged();
    } catch (error) {
      if (isSessionLost(error)) return this.renew(generation, errorText(error, this.secrets));
      console.warn(`llm-proxy: mcp ${this.name}: refreshing the tool list failed: ${errorText(error, this.secrets)}`);
    }
  }

  // --- losing the connection ----------------------------------------------------------------------

  /** The connection of `generation` is gone: drop it and reconnect after the backoff. */
  private lost(generation: number, reason: string, immediately = false): void {
    if (generation !== this.generation || this.state !== "ready") return;
    this.generation++;
    const current = this.current;
    this.current = undefined;
    this.restarts++;
    this.stopPing();
    if (Date.now() - this.connectedAt >= STABLE_AFTER_MS) this.failures = 0;
    if (!immediately) this.failures++;
    this.markDown(reason);
    this.hooks.onToolsChanged();
    if (current) void this.dispose(current, false);
    this.loop ??= this.run(immediately ? 0 : this.backoffMs());
  }

  /** Re-initialises a session the server forgot, now (no backoff), and waits for it. */
  private async renew(generation: number, reason: string): Promise<void> {
    this.lost(generation, `session lost (${reason})`, true);
    await this.loop;
  }

  private transportError(generation: number, error: Error): void {
    if (generation !== this.generation) return;
    // Progress a server sends after the call ended (cancelled, timed out): the SDK reports it; harmless.
    if (error.message.startsWith("Received a progress notification for an unknown token")) return;
    if (this.state === "connecting") {
      // Explains a failing connect better than the "Connection closed" the SDK rejects with.
      this.connectError = error;
      return;
    }
    console.warn(`llm-proxy: mcp ${this.name}: ${errorText(error, this.secrets)}`);
    // Transport errors are not always fatal (a dropped event stream the SDK reopens): ask the
    // server. A request that failed (say with a forgotten session) also sees the error itself and
    // deals with it: closing the connection here would turn its error into "connection closed".
    void this.check(generation);
  }

  /** Pings the server; no answer within connect_timeout_ms means the connection is lost. */
  private async check(generation: number): Promise<void> {
    const client = this.current?.client;
    if (this.checking || generation !== this.generation || this.state !== "ready" || !client) return;
    this.checking = true;
    try {
      await client.ping({ timeout: this.config.connect_timeout_ms });
      this.lastOkAt = Date.now();
    } catch (error) {
      this.lost(generation, `no answer to ping: ${errorText(error, this.secrets)}`, isSessionLost(error));
    } finally {
      this.checking = false;
    }
  }

  private startPing(generation: number): void {
    this.stopPing();
    const every = this.config.ping_interval_ms;
    if (every <= 0) return;
    this.pingTimer = setInterval(() => void this.check(generation), every);
    this.pingTimer.unref?.();
  }

  private stopPing(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private markDown(reason: string): void {
    this.state = "down";
    this.lastError = reason;
    // One warning per state change (and when the reason changes), not one per retry.
    if (this.loggedDown !== reason) {
      console.warn(`llm-proxy: mcp ${this.name}: down: ${reason}`);
      this.loggedDown = reason;
    }
  }

  /** Closes a client and its transport (stdio: kills the process group); a polite session DELETE first when stopping. */
  private async dispose(current: { client: Client; transport: Transport }, stopping: boolean): Promise<void> {
    const { client, transport } = current;
    if (stopping && transport instanceof SDK().StreamableHTTPClientTransport && transport.sessionId) {
      await Promise.race([transport.terminateSession().catch(() => {}), Bun.sleep(1000)]);
    }
    await client.close().catch(() => {});
    await transport.close().catch(() => {});
  }
}
