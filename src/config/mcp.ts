/**
 * The MCP servers file (conf/mcp/servers.yaml: `mcp/servers.yaml` beside the main config file, or
 * `mcp_config` in it, or env `MCP_CONFIG`): schema and loading, with `${VAR}` / `${VAR:-default}` in every string and the
 * same error lines as the main config ("file: key.path: expected X, found Y").
 *
 * ```yaml
 * servers:
 *   homeassistant:
 *     type: streamablehttp          # stdio | sse | streamablehttp (alias: http); inferred from command/url
 *     url: https://ha.local:8123/api/mcp
 *     headers: { Authorization: "Bearer ${HA_TOKEN}" }
 *   everything:
 *     command: npx
 *     args: ["-y", "@modelcontextprotocol/server-everything"]
 * ```
 * `mcpServers` (the key Claude Desktop and most server READMEs use) is accepted for `servers`.
 * `${LLM_PROXY_EXECUTABLE}` is the running executable (the compiled binary, or bun): with
 * `env: {BUN_BE_BUN: "1"}` it runs a JavaScript server where neither node, npx nor bun is installed.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Type as T, type Static } from "@sinclair/typebox";
import { checkSchema, ConfigError, readDocument } from "./load.ts";
import { interpolate, InterpolationError } from "./interpolate.ts";
import type { Config } from "./schema.ts";

const ServerSchema = T.Object(
  {
    type: T.Optional(T.Union([T.Literal("stdio"), T.Literal("sse"), T.Literal("streamablehttp"), T.Literal("http")])),
    description: T.String({ default: "" }),
    /** stdio: the program and its arguments; `env` is added to a minimal inherited environment. */
    command: T.Optional(T.String({ minLength: 1 })),
    args: T.Array(T.String(), { default: [] }),
    env: T.Record(T.String(), T.String(), { default: {} }),
    cwd: T.Optional(T.String({ minLength: 1 })),
    /** sse / streamablehttp: the endpoint (`.../sse`, `.../mcp`) and extra request headers. */
    url: T.Optional(T.String({ pattern: "^https?://" })),
    headers: T.Record(T.String(), T.String(), { default: {} }),
    enabled: T.Boolean({ default: true }),
    /** A tool call with no answer and no progress notification for this long is cancelled; a call
     * that keeps reporting progress runs up to the model's tool_timeout_ms. */
    timeout_ms: T.Integer({ minimum: 1, default: 30_000 }),
    /** Start (or reconnect) + initialize + first tool list; default 30 s for stdio (npx/uvx may
     * download the package first), 10 s for HTTP. */
    connect_timeout_ms: T.Optional(T.Integer({ minimum: 1 })),
    /** Liveness ping while connected (a hung server is reconnected); 0 = off. */
    ping_interval_ms: T.Integer({ minimum: 0, default: 60_000 }),
  },
  // The default makes Value.Default fill the keys above in every entry of the servers record.
  { additionalProperties: false, default: {} },
);

const McpFileSchema = T.Object(
  {
    servers: T.Record(T.String(), ServerSchema, { default: {} }),
    /** Servers connecting at the same time (each stdio start costs a process and a burst of CPU). */
    connect_concurrency: T.Integer({ minimum: 1, default: 4 }),
  },
  { additionalProperties: false },
);

export type McpTransportType = "stdio" | "sse" | "streamablehttp";

/** One server, validated, with its transport type and connect timeout resolved. */
export type McpServerConfig = Omit<Static<typeof ServerSchema>, "type" | "connect_timeout_ms"> & {
  name: string;
  type: McpTransportType;
  connect_timeout_ms: number;
};

export interface McpConfig {
  servers: McpServerConfig[];
  connect_concurrency: number;
  /** The file read, or undefined when there is none. */
  path: string | undefined;
}

/** Server names end up in tool names (`mcp_{server}_{tool}`): 40 leaves 19 of OpenAI's 64 characters for the tool. */
const SERVER_NAME = /^[A-Za-z0-9_-]{1,40}$/;

function resolveServer(name: string, raw: Static<typeof ServerSchema>, label: string): McpServerConfig {
  const at = `${label}: servers.${name}`;
  if (!SERVER_NAME.test(name)) throw new ConfigError(`${at}: expected a name of letters, digits, '_' or '-' (at most 40), found "${name}"`);
  const type: McpTransportType = raw.type === "http" ? "streamablehttp" : (raw.type ?? (raw.command ? "stdio" : raw.url ? "streamablehttp" : "stdio"));
  if (type === "stdio") {
    if (!raw.command) throw new ConfigError(`${at}.command: expected a value (required for type stdio, or set url for an HTTP server), found nothing`);
    if (raw.url) throw new ConfigError(`${at}.url: not used by type stdio (set type: streamablehttp or sse), found "${raw.url}"`);
  } else {
    if (!raw.url) throw new ConfigError(`${at}.url: expected a value (required for type ${type}), found nothing`);
    if (raw.command) throw new ConfigError(`${at}.command: not used by type ${type} (remove it or set type: stdio), found "${raw.command}"`);
  }
  const { type: _type, connect_timeout_ms, ...rest } = raw;
  return { ...rest, name, type, connect_timeout_ms: connect_timeout_ms ?? (type === "stdio" ? 30_000 : 10_000) };
}

/**
 * Where the MCP servers file of `config` is: `mcp_config`, else `mcp/servers.yaml` beside the config
 * file read (`conf/mcp/servers.yaml` on embedded defaults). Only a file set in `mcp_config` must exist.
 */
export function mcpConfigPath(config: Config, configPath: string | undefined): { path: string; required: boolean } {
  if (config.mcp_config) return { path: config.mcp_config, required: true };
  return { path: join(configPath ? dirname(configPath) : "conf", "mcp", "servers.yaml"), required: false };
}

export interface LoadMcpOptions {
  path: string;
  /** When false, a missing file means no servers. */
  required?: boolean;
  env?: Record<string, string | undefined>;
}

/**
 * Reads, interpolates and validates the MCP servers file.
 * @throws ConfigError with one line per problem, each "file: key.path: expected X, found Y"
 */
export function loadMcpConfig(options: LoadMcpOptions): McpConfig {
  const { path } = options;
  if (!existsSync(path)) {
    if (!options.required) return { servers: [], connect_concurrency: 4, path: undefined };
    throw new ConfigError(`${path}: file not found (mcp_config / MCP_CONFIG)`);
  }
  return { ...parseMcpConfig(readDocument(path), path, options.env), path };
}

/**
 * Interpolates and validates a parsed MCP servers document.
 * @param label names the document in errors (the file path)
 * @throws ConfigError as loadMcpConfig
 */
export function parseMcpConfig(document: unknown, label: string, env: Record<string, string | undefined> = process.env): Omit<McpConfig, "path"> {
  let doc = document as Record<string, unknown>;
  if (doc && typeof doc === "object" && "mcpServers" in doc) {
    if ("servers" in doc) throw new ConfigError(`${label}: mcpServers: use either servers or mcpServers, found both`);
    const { mcpServers, ...rest } = doc;
    doc = { ...rest, servers: mcpServers };
  }
  try {
    // ${LLM_PROXY_EXECUTABLE}: this program, which runs JavaScript servers itself with BUN_BE_BUN=1.
    doc = interpolate(doc, { LLM_PROXY_EXECUTABLE: process.execPath, ...env }) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof InterpolationError) throw new ConfigError(`${label}: ${err.path}: ${err.message}`);
    throw err;
  }
  const file = checkSchema(McpFileSchema, doc, label);
  const servers = Object.entries(file.servers).map(([name, raw]) => resolveServer(name, raw, label));
  return { servers, connect_concurrency: file.connect_concurrency };
}
