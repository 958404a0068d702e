/**
 * The running proxy's state: the config and what is built from it (upstreams, keys), plus the
 * services that outlive a reload (request log, tool selector). `reload()` builds a new state and swaps it in one
 * assignment; a request keeps the state it started with.
 */
import { loadConfig, type LoadedConfig, type LoadOptions } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { ToolSelector } from "./selection/selector.ts";
import { KeyCheck } from "./server/auth.ts";
import { RequestLog } from "./store/request-log.ts";
import { Upstreams } from "./upstream/registry.ts";

export interface RuntimeState {
  readonly config: Config;
  readonly configPath: string | undefined;
  readonly upstreams: Upstreams;
  readonly keys: KeyCheck;
  /** The long-lived tool selector (the same object across reloads). */
  readonly selector: ToolSelector;
}

function buildState(loaded: LoadedConfig, selector: ToolSelector): RuntimeState {
  const { config } = loaded;
  return { config, configPath: loaded.path, upstreams: new Upstreams(config), keys: new KeyCheck(config.auth), selector };
}

export class Runtime {
  state: RuntimeState;
  readonly requestLog: RequestLog | undefined;
  /** Tool selection: embedding Worker and caches, kept across reloads. */
  readonly selector: ToolSelector;
  readonly startedAt = Date.now();

  /** @throws when the request log's data directory cannot be opened */
  constructor(
    loaded: LoadedConfig,
    private readonly loadOptions: LoadOptions = {},
  ) {
    const { config } = loaded;
    this.selector = new ToolSelector({ dataDir: config.data_dir, config: config.selection });
    this.state = buildState(loaded, this.selector);
    this.requestLog = config.log.requests
      ? new RequestLog({
          dataDir: config.data_dir,
          flushIntervalMs: config.log.flush_interval_ms,
          retentionDays: config.log.retention_days,
          retentionRows: config.log.retention_rows,
        })
      : undefined;
  }

  /**
   * Re-reads the config and swaps it in. Server address and data directory changes need a restart.
   * @throws ConfigError, leaving the running config in place
   */
  reload(): RuntimeState {
    const loaded = loadConfig({ ...this.loadOptions, path: this.state.configPath ?? this.loadOptions.path });
    this.selector.configure(loaded.config.selection);
    this.state = buildState(loaded, this.selector);
    return this.state;
  }

  close(): void {
    this.selector.close();
    this.requestLog?.close();
  }
}
