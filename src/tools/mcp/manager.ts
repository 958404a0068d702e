/**
 * The MCP servers of the running proxy: connects them in the background with bounded concurrency,
 * keeps the table of the names the model sees (`mcp_{server}_{tool}`, see names.ts), hands out one
 * `ToolSource` per server and model (with the model's whitelist/blacklist), reports their state, and
 * applies a reload as a diff (unchanged servers keep their connection).
 *
 * @example
 * const mcp = new McpManager();
 * mcp.configure(loadMcpConfig({ path: "conf/mcp/servers.yaml" }));
 * const sources = mcp.sources(["everything"]);          // or { everything: { whitelist: ["get-*"] } }
 * await mcp.ready(["everything"], request.signal);      // first connect, bounded by connect_timeout_ms
 */
import type { McpConfig, McpServerConfig } from "../../config/mcp.ts";
import type { Tool } from "../../protocol/openai.ts";
import { matchesAny } from "../../selection/rank.ts";
import type { ToolCallOptions, ToolResult, ToolSource } from "../source.ts";
import { McpConnection, type McpServerStatus } from "./connection.ts";
import { assignToolNames, type McpToolRef } from "./names.ts";

/** A model's choice of tools from one server: globs on the tool's name (the server's or the exposed one). */
export interface McpToolFilter {
  /** When given, only matching tools; applied first. */
  whitelist?: string[];
  /** Matching tools are removed. */
  blacklist?: string[];
}

/** The `mcp_servers` key of a model file: server names (all tools), or name -> filter. */
export type McpServersSpec = string[] | Record<string, McpToolFilter | null | undefined>;

/** A ToolSource over MCP servers that can also wait for their first connect (McpManager.ready). */
export type McpSource = ToolSource & { ready(signal?: AbortSignal): Promise<void> };

/** What changed on `configure`. */
export interface McpReloadSummary {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** `/health` view of one server. */
export interface McpServerHealth {
  state: McpServerStatus["state"] | "disabled";
  /** Tools that can run now. */
  tools: number;
  last_error: string | null;
  last_ok_at: string | null;
}

/** Runs at most `max` tasks at once, the others in arrival order. */
class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(public max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

const refKey = (server: string, tool: string) => `${server}\0${tool}`;

/** All configured MCP servers (see the module comment): one McpConnection per server, by name. */
export class McpManager {
  private readonly connections = new Map<string, McpConnection>();
  private configs: McpServerConfig[] = [];
  private readonly limiter = new Limiter(4);
  private table = new Map<string, McpToolRef>();
  private exposedByRef = new Map<string, string>();
  /** Bumped whenever the table changes; sources cache their tool lists against it. */
  version = 0;
  private closed = false;

  /** Applies a (re)loaded MCP config: starts added servers, closes removed ones, reconnects changed ones. */
  configure(config: Pick<McpConfig, "servers" | "connect_concurrency">): McpReloadSummary {
    const summary: McpReloadSummary = { added: [], removed: [], changed: [], unchanged: [] };
    this.limiter.max = config.connect_concurrency;
    const next = new Map(config.servers.map((s) => [s.name, s]));
    const previous = new Map(this.configs.map((s) => [s.name, s]));
    for (const name of previous.keys()) if (!next.has(name)) summary.removed.push(name);
    for (const [name, server] of next) {
      const before = previous.get(name);
      if (!before) summary.added.push(name);
      else if (JSON.stringify(before) === JSON.stringify(server)) summary.unchanged.push(name);
      else summary.changed.push(name);
    }
    this.configs = config.servers;
    for (const name of [...summary.removed, ...summary.changed]) {
      const connection = this.connections.get(name);
      this.connections.delete(name);
      void connection?.close();
    }
    for (const name of [...summary.added, ...summary.changed]) {
      const server = next.get(name)!;
      if (!server.enabled || this.closed) continue;
      const connection = new McpConnection(server, { onToolsChanged: () => this.rebuildTable(), limit: (task) => this.limiter.run(task) });
      this.connections.set(name, connection);
      connection.start();
    }
    if (summary.removed.length || summary.changed.length) this.rebuildTable();
    return summary;
  }

  /** The configured server names (enabled or not). */
  get serverNames(): string[] {
    return this.configs.map((s) => s.name);
  }

  /**
   * The ToolSource of one server for one model (`mcp:{server}`), or without `server` the source of
   * every server's tools (`mcp`), through which templates and a model's `tools: [name]` reach them.
   */
  source(server?: string, filter: McpToolFilter = {}): McpSource {
    return new McpToolSource(this, server, filter);
  }

  /** One source per server of a model's `mcp_servers`. */
  sources(spec: McpServersSpec): McpSource[] {
    const entries: [string, McpToolFilter | null | undefined][] = Array.isArray(spec) ? spec.map((name) => [name, undefined]) : Object.entries(spec);
    return entries.map(([name, filter]) => this.source(name, filter ?? {}));
  }

  /**
   * Waits until each of `servers` has finished its first connect attempt (bounded by its
   * connect_timeout_ms), so a request right after start-up gets the tools; later requests never
   * wait. Resolves early when `signal` aborts.
   */
  async ready(servers: readonly string[], signal?: AbortSignal): Promise<void> {
    const waits = servers.map((name) => this.connections.get(name)?.ready()).filter((p) => p !== undefined);
    if (waits.length === 0) return;
    const aborted = new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
    await Promise.race([Promise.all(waits), aborted]);
  }

  /** @internal the connection serving `server`, if it is enabled. */
  connection(server: string): McpConnection | undefined {
    return this.connections.get(server);
  }

  /** @internal the exposed name -> tool table. */
  lookup(exposed: string): McpToolRef | undefined {
    return this.table.get(exposed);
  }

  /** @internal the exposed name of a server's tool. */
  exposedName(server: string, tool: string): string | undefined {
    return this.exposedByRef.get(refKey(server, tool));
  }

  /** For `/health`: every configured server. */
  health(): Record<string, McpServerHealth> {
    const out: Record<string, McpServerHealth> = {};
    for (const server of this.configs) {
      const status = this.connections.get(server.name)?.status();
      out[server.name] = status
        ? { state: status.state, tools: status.tools.length, last_error: status.last_error, last_ok_at: status.last_ok_at }
        : { state: "disabled", tools: 0, last_error: null, last_ok_at: null };
    }
    return out;
  }

  /** For `GET /admin/mcp`: every configured server with its tools by exposed name, call counts and latencies. */
  status(): (Omit<McpServerStatus, "state"> & { state: McpServerHealth["state"]; description: string })[] {
    return this.configs.map((server) => {
      const status = this.connections.get(server.name)?.status();
      if (!status) {
        return {
          name: server.name, type: server.type, state: "disabled" as const, description: server.description, tools: [], last_error: null, last_ok_at: null,
          connect_ms: null, restarts: 0, next_retry_at: null, calls: 0, errors: 0, p50_ms: null, p95_ms: null, rejected: 0, pid: null,
        };
      }
      return { ...status, description: server.description, tools: status.tools.map((t) => this.exposedName(server.name, t) ?? t) };
    });
  }

  /** Closes every server (stdio: kills their process groups) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.close()));
  }

  private rebuildTable(): void {
    const refs: McpToolRef[] = [];
    for (const [server, connection] of this.connections) for (const tool of connection.listTools()) refs.push({ server, tool: tool.name });
    this.table = assignToolNames(refs);
    this.exposedByRef = new Map([...this.table].map(([exposed, ref]) => [refKey(ref.server, ref.tool), exposed]));
    this.version++;
  }
}

/** One server's tools as one model sees them, or (no server) every server's, unfiltered. */
class McpToolSource implements ToolSource {
  readonly name: string;
  private cache: { version: number; tools: Tool[]; names: Set<string> } | undefined;

  constructor(
    private readonly manager: McpManager,
    private readonly server: string | undefined,
    private readonly filter: McpToolFilter,
  ) {
    this.name = server === undefined ? "mcp" : `mcp:${server}`;
  }

  private allowed(tool: string, exposed: string): boolean {
    const { whitelist, blacklist } = this.filter;
    const matches = (globs: string[]) => matchesAny(tool, globs) || matchesAny(exposed, globs);
    if (whitelist?.length && !matches(whitelist)) return false;
    return !(blacklist?.length && matches(blacklist));
  }

  private current(): { tools: Tool[]; names: Set<string> } {
    const { version } = this.manager;
    if (this.cache?.version === version) return this.cache;
    const tools: Tool[] = [];
    for (const server of this.server === undefined ? this.manager.serverNames : [this.server]) {
      for (const tool of this.manager.connection(server)?.listTools() ?? []) {
        const exposed = this.manager.exposedName(server, tool.name);
        if (!exposed || !this.allowed(tool.name, exposed)) continue;
        const { $schema: _ignored, ...parameters } = tool.inputSchema as Record<string, unknown>;
        tools.push({ type: "function", function: { name: exposed, description: tool.description ?? tool.title ?? "", parameters } });
      }
    }
    this.cache = { version, tools, names: new Set(tools.map((t) => t.function.name)) };
    return this.cache;
  }

  list(): Tool[] {
    return this.current().tools;
  }

  async call(name: string, args: Record<string, unknown>, options: ToolCallOptions): Promise<ToolResult> {
    options.signal?.throwIfAborted();
    const ref = this.manager.lookup(name);
    if (ref && (this.server === undefined || ref.server === this.server) && this.current().names.has(name)) {
      return this.manager.connection(ref.server)!.call(ref.tool, args, options, name);
    }
    // Not callable now. A server that went down since the tools were listed says why.
    const connection = this.server === undefined ? undefined : this.manager.connection(this.server);
    if (connection && connection.state !== "ready") return connection.call(name, args, options, name);
    if (this.server !== undefined && !connection) return { isError: true, content: `MCP server '${this.server}' is disabled or not configured` };
    return { isError: true, content: `unknown tool ${name}: ${this.server === undefined ? "no MCP server" : `MCP server '${this.server}' does not`} offer${this.server === undefined ? "s" : ""} it now` };
  }

  ready(signal?: AbortSignal): Promise<void> {
    return this.manager.ready(this.server === undefined ? this.manager.serverNames : [this.server], signal);
  }
}
