#!/usr/bin/env bun
/**
 * llm-proxy command line.
 *
 *   llm-proxy [serve] [--config PATH] [--port N] [--host H] [--data-dir DIR]
 *   llm-proxy check-config [--config PATH]   validate and print the effective config, secrets masked
 *   llm-proxy --version | --help
 *
 * Exit codes: 0 ok, 1 invalid config or start-up failure, 2 bad usage.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { ConfigError, loadConfig, maskSecrets } from "./src/config/load.ts";
import { loadMcpConfig, mcpConfigPath } from "./src/config/mcp.ts";
import { watchConfig, watchDirs } from "./src/config/watch.ts";
import { loadAugmented } from "./src/pipeline/augmented.ts";
import { Runtime } from "./src/runtime.ts";
import { startServer } from "./src/server/app.ts";
import { BuiltinSource } from "./src/tools/builtins/index.ts";
import { McpManager } from "./src/tools/mcp/manager.ts";
import { ToolRegistry } from "./src/tools/registry.ts";
import { shutdown } from "./src/server/shutdown.ts";
import { VERSION } from "./src/version.ts";

const HELP = `llm-proxy ${VERSION}: an LLM gateway for OpenAI and Ollama clients

Usage:
  llm-proxy [serve] [options]      start the proxy (default command)
  llm-proxy check-config [options] validate the config and print it, secrets masked

Options:
  -c, --config PATH    config file (default conf/llm-proxy.yaml, or $LLM_PROXY_CONFIG;
                       without a file the proxy runs on embedded defaults)
  -p, --port N         listen port (overrides $PORT and the file)
      --host HOST      listen address (overrides $HOST and the file)
      --data-dir DIR   where the SQLite request log lives (overrides $LLM_PROXY_DATA_DIR)
  -v, --version        print the version
  -h, --help           print this help

Precedence: flag > environment > config file > default.
`;

function usage(message: string): never {
  console.error(`llm-proxy: ${message}\n\n${HELP}`);
  process.exit(2);
}

function main(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        port: { type: "string", short: "p" },
        host: { type: "string" },
        "data-dir": { type: "string" },
        version: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return void console.log(HELP);
  if (values.version) return void console.log(VERSION);
  const command = positionals[0] ?? "serve";
  if (positionals.length > 1 || !["serve", "check-config"].includes(command)) usage(`unknown command: ${positionals.join(" ")}`);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) usage(`--port: expected 0-65535, found "${values.port}"`);

  const options = { path: values.config, overrides: { port, host: values.host, data_dir: values["data-dir"] } };
  let loaded;
  try {
    loaded = loadConfig(options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`llm-proxy: invalid configuration\n${err.message}`);
    process.exit(1);
  }
  if (command === "check-config") {
    let models;
    try {
      const mcp = loadMcpConfig(mcpConfigPath(loaded.config, loaded.path));
      console.error(`# ${mcp.path ?? "no MCP servers file"}: ${mcp.servers.length} MCP server(s), valid`);
      // The models' mcp_servers are checked against the file; nothing is started (the manager is never configured).
      const manager = new McpManager();
      models = loadAugmented(loaded.config, loaded.path, process.env, new ToolRegistry([new BuiltinSource(), manager.source()]), { manager, servers: mcp.servers.map((s) => s.name) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`llm-proxy: invalid configuration\n${err.message}`);
      process.exit(1);
    }
    console.error(`# ${loaded.path ?? "embedded defaults"}: valid; augmented models in ${models.modelsDir}: ${models.all.map((m) => m.name).join(", ") || "none"}`);
    console.log(stringify(maskSecrets(loaded.config)));
    return;
  }

  let runtime: Runtime | undefined;
  let server: ReturnType<typeof startServer>;
  try {
    runtime = new Runtime(loaded, options);
    server = startServer(runtime);
  } catch (err) {
    void runtime?.close();
    if (err instanceof ConfigError) {
      console.error(`llm-proxy: invalid configuration\n${err.message}`);
      process.exit(1);
    }
    // An unusable data directory or a taken address: say which, without a stack trace.
    const { message, code } = err as { message: string; code?: string };
    console.error(`llm-proxy: cannot start: ${code && !message.startsWith(code) ? `${code}: ` : ""}${message}`);
    process.exit(1);
  }
  console.log(`llm-proxy ${VERSION} listening on http://${server.hostname}:${server.port} (config: ${loaded.path ?? "embedded defaults"})`);
  const reload = () => {
    try {
      const { config, models } = runtime.reload();
      const changed = [config ? "config" : "", ...models.added.map((n) => `+${n}`), ...models.removed.map((n) => `-${n}`), ...models.changed.map((n) => `~${n}`)].filter(Boolean);
      console.log(`llm-proxy: configuration reloaded${changed.length ? ` (${changed.join(", ")})` : ""}`);
    } catch (err) {
      console.error(`llm-proxy: reload refused, the running configuration stays:\n${(err as Error).message}`);
    }
  };
  const unwatch = loaded.path ? watchConfig(loaded.path, reload) : () => {};
  const unwatchDirs = watchDirs([runtime.state.models.modelsDir, runtime.state.models.skillsDir], reload);
  // Watched even before it exists (its directory must): adding conf/mcp/servers.yaml later takes effect.
  const mcpPath = mcpConfigPath(runtime.state.config, runtime.state.configPath).path;
  const unwatchMcp = existsSync(dirname(mcpPath)) ? watchConfig(mcpPath, reload) : () => {};
  let stopping = false;
  const stop = (signal: string) => {
    // systemd signals the whole control group, and a second signal may come while MCP servers stop:
    // a repeated signal must neither cut the drain short nor close everything twice.
    if (stopping) return;
    stopping = true;
    unwatch();
    unwatchDirs();
    unwatchMcp();
    const graceMs = runtime.state.config.server.shutdown_grace_ms;
    console.log(`llm-proxy: ${signal}: no new connections; waiting up to ${graceMs} ms for the requests in flight`);
    void shutdown(server, runtime, graceMs).then((outcome) => {
      console.log(outcome.drained ? "llm-proxy: every request finished; request log flushed" : `llm-proxy: cut ${outcome.cut} request(s) still running; request log flushed`);
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", reload);
}

main(process.argv.slice(2));
