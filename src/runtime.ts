/**
 * The running proxy's state: the config and what is built from it (upstreams, keys, augmented
 * models, tool sources), plus the services that outlive a reload (request log, tool selector, the
 * tool loop's splice store, chat history, MCP servers, cache-aware selection's working sets and
 * prompt-cache knowledge). `reload()` builds a new state and swaps it
 * in one assignment; a request keeps the state it started with. MCP servers are reloaded as a diff:
 * unchanged ones keep their connection.
 */
import { join } from "node:path";
import { CompressionService } from "./compression/service.ts";
import { ConfigError, loadConfig, type LoadedConfig, type LoadOptions } from "./config/load.ts";
import { loadMcpConfig, mcpConfigPath, type McpConfig } from "./config/mcp.ts";
import type { Config } from "./config/schema.ts";
import { loadAugmented, type AugmentedModels } from "./pipeline/augmented.ts";
import { MemorySpliceStore, type SpliceStore } from "./pipeline/splice.ts";
import { PromptCacheTracker } from "./selection/prompt-cache.ts";
import { ToolSelector } from "./selection/selector.ts";
import { openWorkingSetStore, type WorkingSetStore } from "./selection/working-set-store.ts";
import { KeyCheck } from "./server/auth.ts";
import { Metrics } from "./server/metrics.ts";
import { ChatHistory } from "./store/chat-history.ts";
import { RequestLog } from "./store/request-log.ts";
import { BuiltinSource } from "./tools/builtins/index.ts";
import { McpManager, type McpReloadSummary } from "./tools/mcp/manager.ts";
import { LOAD_SKILL } from "./tools/skills.ts";
import { ToolRegistry } from "./tools/registry.ts";
import type { ToolSource } from "./tools/source.ts";
import { Upstreams } from "./upstream/registry.ts";

export interface RuntimeState {
  readonly config: Config;
  readonly configPath: string | undefined;
  readonly upstreams: Upstreams;
  readonly keys: KeyCheck;
  /** The long-lived tool selector (the same object across reloads). */
  readonly selector: ToolSelector;
  /** The proxy-owned tool sources (built-ins first). */
  readonly tools: ToolRegistry;
  /** Models defined by files in the models directory. */
  readonly models: AugmentedModels;
  /** The tool loop's remembered turns (the same store across reloads). */
  readonly splices: SpliceStore;
  /** Chat history writer, when `log.chat_history` is on. */
  readonly chats: ChatHistory | undefined;
  /** Token estimates and calibration (the same object across reloads). */
  readonly compression: CompressionService;
  /** Stable forwarded tool sets of cache-aware selection (persisted in the data directory). */
  readonly workingSets: WorkingSetStore;
  /** Per upstream model: recent prompts (for the tokens-to-compute estimate) and whether it caches. */
  readonly promptCache: PromptCacheTracker;
}

/** What a reload changed, by name. */
export interface ReloadChanges {
  config: boolean;
  models: { added: string[]; removed: string[]; changed: string[] };
  mcp_servers: McpReloadSummary;
}

/** Services a state is built with that outlive it. */
interface Services {
  selector: ToolSelector;
  compression: CompressionService;
  splices: SpliceStore;
  extraSources: readonly ToolSource[];
  env: Record<string, string | undefined>;
  mcp: McpManager;
  workingSets: WorkingSetStore;
  promptCache: PromptCacheTracker;
}

/**
 * The config with each augmented model's `selection` overrides first among the per-model overrides;
 * `load_skill` is always kept for a model whose skills load on demand (its prompt names the tool).
 */
function withModelSelection(config: Config, models: AugmentedModels): Config {
  const overrides = Object.fromEntries(
    models.all
      .filter((m) => m.config.selection || m.skillSource)
      .map((m) => {
        const own = m.config.selection ?? {};
        return [m.name, m.skillSource ? { ...own, always: [...(own.always ?? []), LOAD_SKILL] } : own];
      }),
  );
  if (Object.keys(overrides).length === 0) return config;
  return { ...config, selection: { ...config.selection, models: { ...overrides, ...config.selection.models } } };
}

/** @throws ConfigError for a bad model or skill file */
function buildState(loaded: LoadedConfig, services: Services, mcpConfig: McpConfig): RuntimeState {
  // Every MCP server's tools by name, for templates and a model's `tools` list; `mcp_servers` adds per-model sources.
  const tools = new ToolRegistry([new BuiltinSource(), services.mcp.source(), ...services.extraSources]);
  const models = loadAugmented(loaded.config, loaded.path, services.env, tools, { manager: services.mcp, servers: mcpConfig.servers.map((s) => s.name) });
  const config = withModelSelection(loaded.config, models);
  return {
    config,
    configPath: loaded.path,
    upstreams: new Upstreams(config),
    keys: new KeyCheck(config.auth),
    selector: services.selector,
    tools,
    models,
    splices: services.splices,
    chats: config.log.chat_history ? new ChatHistory(join(config.data_dir, "chats")) : undefined,
    compression: services.compression,
    workingSets: services.workingSets,
    promptCache: services.promptCache,
  };
}

/** Names added, removed and changed between two models sets. */
function diffModels(before: AugmentedModels, after: AugmentedModels): ReloadChanges["models"] {
  const text = (m: AugmentedModels, name: string) => {
    const model = m.byName.get(name)!;
    return JSON.stringify([{ ...model.config, file: undefined }, model.skills.map((s) => [s.name, s.description, s.content])]);
  };
  const names = (m: AugmentedModels) => [...m.byName.keys()];
  return {
    added: names(after).filter((n) => !before.byName.has(n)),
    removed: names(before).filter((n) => !after.byName.has(n)),
    changed: names(after).filter((n) => before.byName.has(n) && text(before, n) !== text(after, n)),
  };
}

/**
 * Why a reloaded config must not replace the running one, or undefined when it may. An editor saving
 * in two steps, a full disk or a truncated copy leaves an empty or cut file that is still valid (every
 * key has a default): swapping it in would silently turn API keys off or drop every upstream. So a
 * reload never does that; a deliberate change of keys or upstreams in a complete file is fine, and
 * turning keys off altogether takes a restart.
 */
export function reloadRefusal(running: LoadedConfig, next: LoadedConfig): string | undefined {
  if (next.empty) return "the file holds no settings (empty or cut short?); keeping the running configuration";
  const keys = (auth: Config["auth"]) => auth.keys.length + auth.key_sha256.length;
  if (keys(running.config.auth) > 0 && keys(next.config.auth) === 0) {
    return "auth.keys and auth.key_sha256 would both be empty, turning API keys off (file cut short?); to run without keys, restart the proxy";
  }
  if (running.fileUpstreams > 0 && next.fileUpstreams === 0) {
    return "the file lists no upstreams, dropping every upstream for the default one (file cut short?); keeping the running configuration";
  }
  return undefined;
}

export class Runtime {
  state: RuntimeState;
  readonly requestLog: RequestLog | undefined;
  /** Tool selection: embedding Worker and caches, kept across reloads. */
  readonly selector: ToolSelector;
  /** MCP servers: connections and child processes, kept across reloads (docs/mcp.md). */
  readonly mcp = new McpManager();
  /** The MCP servers file in use. */
  mcpConfig: McpConfig;
  /** Compression: estimator cache and calibration, kept across reloads. */
  readonly compression: CompressionService;
  /** Cache-aware selection's working sets, kept across reloads and written to the data directory. */
  readonly workingSets: WorkingSetStore;
  readonly startedAt = Date.now();
  /** Prometheus metrics (GET /metrics), kept across reloads. */
  readonly metrics: Metrics;
  private readonly services: Services;
  /** Set when shutdown cuts the requests still in flight: the error their log rows get (server/shutdown.ts). */
  cutting: string | undefined;
  /** The config file as last applied, to judge the next reload by. */
  private loaded: LoadedConfig;

  /**
   * Starts the services; MCP servers connect in the background.
   * @param toolSources long-lived tool sources beside the built-ins, kept across reloads (for
   *   programs embedding the proxy, and tests)
   * @throws ConfigError for an invalid MCP servers file or a bad model or skill file; Error when the
   *   request log's data directory cannot be opened
   */
  constructor(
    loaded: LoadedConfig,
    private readonly loadOptions: LoadOptions = {},
    toolSources: readonly ToolSource[] = [],
  ) {
    const { config } = loaded;
    this.loaded = loaded;
    this.mcpConfig = loadMcpConfig({ ...mcpConfigPath(config, loaded.path), env: loadOptions.env });
    this.selector = new ToolSelector({ dataDir: config.data_dir, config: config.selection, upstream: (name) => this.state.upstreams.get(name)?.config });
    const splices = new MemorySpliceStore(config.tool_loop.splice_ttl_ms, config.tool_loop.splice_max_entries);
    this.compression = new CompressionService(config.data_dir);
    this.compression.configure(config.compression);
    this.workingSets = openWorkingSetStore(config.data_dir);
    this.services = {
      selector: this.selector,
      compression: this.compression,
      splices,
      extraSources: toolSources,
      env: loadOptions.env ?? process.env,
      mcp: this.mcp,
      workingSets: this.workingSets,
      promptCache: new PromptCacheTracker(),
    };
    try {
      this.state = buildState(loaded, this.services, this.mcpConfig);
    } catch (err) {
      void this.selector.close();
      this.workingSets.close();
      throw err;
    }
    this.requestLog = config.log.requests
      ? new RequestLog({
          dataDir: config.data_dir,
          flushIntervalMs: config.log.flush_interval_ms,
          retentionDays: config.log.retention_days,
          retentionRows: config.log.retention_rows,
        })
      : undefined;
    this.mcp.configure(this.mcpConfig);
    this.metrics = new Metrics(this);
  }

  /**
   * Re-reads the config, the model files, the skills and the MCP servers file, and swaps them in
   * together (MCP servers as a diff). Server address and data directory changes need a restart.
   * @throws ConfigError, leaving the running state in place: for an invalid file, and for one that
   *   looks cut short (see reloadRefusal)
   */
  reload(): ReloadChanges {
    const loaded = loadConfig({ ...this.loadOptions, path: this.state.configPath ?? this.loadOptions.path });
    const refused = reloadRefusal(this.loaded, loaded);
    if (refused) throw new ConfigError(`${loaded.path ?? "(embedded defaults)"}: ${refused}`);
    const mcpConfig = loadMcpConfig({ ...mcpConfigPath(loaded.config, loaded.path), env: this.loadOptions.env });
    const next = buildState(loaded, this.services, mcpConfig);
    this.loaded = loaded;
    const before = this.state;
    this.selector.configure(loaded.config.selection);
    this.compression.configure(loaded.config.compression);
    this.state = next;
    this.mcpConfig = mcpConfig;
    const mcpChanges = this.mcp.configure(mcpConfig);
    const { added, removed, changed } = mcpChanges;
    if (added.length + removed.length + changed.length > 0) {
      console.log(`llm-proxy: mcp servers reloaded: added [${added.join(", ")}], removed [${removed.join(", ")}], changed [${changed.join(", ")}]`);
    }
    return { config: JSON.stringify(before.config) !== JSON.stringify(next.config), models: diffModels(before.models, next.models), mcp_servers: mcpChanges };
  }

  /**
   * Stops the services; resolves once MCP server processes have exited (their SIGTERM goes out at
   * once) and the embedding Worker has released its model (an exit before that can abort the process).
   */
  async close(): Promise<void> {
    const selector = this.selector.close();
    this.compression.close();
    this.workingSets.close();
    this.requestLog?.close();
    void this.state.tools.close();
    await Promise.all([this.mcp.close(), selector]);
  }
}
