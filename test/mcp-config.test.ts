/**
 * The MCP servers file: errors that name the file, key path, expectation and value (as the main
 * config's), ${VAR} interpolation, transport inference, the `mcpServers` spelling, the optional
 * default file; and the names the model sees (`mcp_{server}_{tool}`, 64 characters, no clashes).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { loadMcpConfig, mcpConfigPath } from "../src/config/mcp.ts";
import { assignToolNames } from "../src/tools/mcp/names.ts";
import { configErrorOf } from "./fakes/config-error.ts";
import { yamlFiles } from "./fakes/yaml-files.ts";

const { dir, file } = yamlFiles("servers");


describe("loading servers.yaml", () => {
  test("a full example: types resolved, defaults filled, ${VAR} and ${VAR:-default} interpolated", () => {
    const path = file(`
servers:
  homeassistant:
    type: streamablehttp
    url: https://ha.local:8123/api/mcp
    headers: { Authorization: "Bearer \${HA_TOKEN}" }
    description: Home Assistant MCP
  everything:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-everything"]
    env: { SOME_KEY: "\${SOME_KEY:-fallback}", PORT: 3000 }
    timeout_ms: 5000
  old:
    type: sse
    url: http://127.0.0.1:3001/sse
    enabled: false
  inferred:
    url: http://127.0.0.1:3002/mcp
  claude-code-style:
    type: http
    url: http://127.0.0.1:3003/mcp
`);
    const config = loadMcpConfig({ path, env: { HA_TOKEN: "abc" } });
    const byName = Object.fromEntries(config.servers.map((s) => [s.name, s]));
    expect(config.path).toBe(path);
    expect(config.connect_concurrency).toBe(4);
    expect(byName.homeassistant).toMatchObject({ type: "streamablehttp", headers: { Authorization: "Bearer abc" }, timeout_ms: 30_000, connect_timeout_ms: 10_000, enabled: true });
    expect(byName.everything).toMatchObject({ type: "stdio", command: "npx", env: { SOME_KEY: "fallback", PORT: "3000" }, timeout_ms: 5000, connect_timeout_ms: 30_000 });
    expect(byName.old).toMatchObject({ type: "sse", enabled: false });
    expect(byName.inferred!.type).toBe("streamablehttp");
    expect(byName["claude-code-style"]!.type).toBe("streamablehttp");
  });

  test("Claude Desktop's mcpServers key is accepted", () => {
    const path = file(`mcpServers:\n  fs:\n    command: npx\n    args: [-y, "@modelcontextprotocol/server-filesystem", /tmp]\n`);
    expect(loadMcpConfig({ path, env: {} }).servers.map((s) => [s.name, s.type])).toEqual([["fs", "stdio"]]);
    const both = file(`servers: {}\nmcpServers: {}\n`);
    expect(configErrorOf(() => loadMcpConfig({ path: both, env: {} }))).toBe(`${both}: mcpServers: use either servers or mcpServers, found both`);
  });

  test("schema violations, one line each, naming file, key path, expectation and value", () => {
    const path = file(`
servers:
  a:
    type: websocket
    command: x
  b:
    url: ftp://nope
  c:
    command: x
    timeout_ms: soon
    colour: red
`);
    const lines = configErrorOf(() => loadMcpConfig({ path, env: {} })).split("\n");
    expect(lines).toContain(`${path}: servers.a.type: expected one of stdio, sse, streamablehttp, http, found "websocket"`);
    expect(lines).toContain(`${path}: servers.b.url: expected string to match '^https?://', found "ftp://nope"`);
    expect(lines).toContain(`${path}: servers.c.timeout_ms: expected integer, found "soon"`);
    expect(lines).toContain(`${path}: servers.c.colour: unexpected property, found "red"`);
  });

  test("what a transport needs, and a server name usable in tool names", () => {
    expect(configErrorOf(() => loadMcpConfig({ path: file("servers:\n  a:\n    type: stdio\n"), env: {} }))).toEndWith(
      ": servers.a.command: expected a value (required for type stdio, or set url for an HTTP server), found nothing",
    );
    expect(configErrorOf(() => loadMcpConfig({ path: file("servers:\n  a:\n    type: sse\n"), env: {} }))).toEndWith(": servers.a.url: expected a value (required for type sse), found nothing");
    expect(configErrorOf(() => loadMcpConfig({ path: file("servers:\n  a:\n    command: x\n    url: http://h/mcp\n"), env: {} }))).toEndWith(
      ': servers.a.url: not used by type stdio (set type: streamablehttp or sse), found "http://h/mcp"',
    );
    expect(configErrorOf(() => loadMcpConfig({ path: file("servers:\n  home assistant:\n    command: x\n"), env: {} }))).toEndWith(
      `: servers.home assistant: expected a name of letters, digits, '_' or '-' (at most 40), found "home assistant"`,
    );
  });

  test("an unset variable without default is an error naming it and the key", () => {
    const path = file(`servers:\n  ha:\n    url: http://h/mcp\n    headers: { Authorization: "Bearer \${HA_TOKEN}" }\n`);
    expect(configErrorOf(() => loadMcpConfig({ path, env: {} }))).toBe(
      `${path}: servers.ha.headers.Authorization: environment variable HA_TOKEN is not set (use \${HA_TOKEN:-default} to allow that)`,
    );
  });

  test("invalid YAML names line and column", () => {
    const path = file("servers:\n  a: [1\n");
    expect(configErrorOf(() => loadMcpConfig({ path, env: {} }))).toStartWith(`${path}: invalid YAML line 3, column 1: `);
  });

  test("the file beside the config may be missing (no servers); a path that was asked for may not", () => {
    const main = file("upstreams: []\n");
    const { config } = loadConfig({ path: main, env: {} });
    expect(config.mcp_config).toBe("");
    expect(mcpConfigPath(config, main)).toEqual({ path: join(dir, "mcp", "servers.yaml"), required: false });
    expect(mcpConfigPath(config, undefined)).toEqual({ path: "conf/mcp/servers.yaml", required: false });
    expect(loadMcpConfig(mcpConfigPath(config, main))).toEqual({ servers: [], connect_concurrency: 4, path: undefined });
    const set = loadConfig({ path: main, env: { MCP_CONFIG: join(dir, "missing.yaml") } }).config;
    expect(mcpConfigPath(set, main)).toEqual({ path: join(dir, "missing.yaml"), required: true });
    expect(configErrorOf(() => loadMcpConfig(mcpConfigPath(set, main)))).toBe(`${join(dir, "missing.yaml")}: file not found (mcp_config / MCP_CONFIG)`);
  });
});

describe("tool names", () => {
  test("mcp_{server}_{tool}, with characters OpenAI refuses replaced", () => {
    const table = assignToolNames([
      { server: "everything", tool: "get-sum" },
      { server: "ha", tool: "HassTurnOn" },
      { server: "ha", tool: "light.turn_on" },
      { server: "ha", tool: "Wetter für Berlin" },
    ]);
    expect([...table.keys()]).toEqual(["mcp_everything_get-sum", "mcp_ha_HassTurnOn", "mcp_ha_light_turn_on", "mcp_ha_Wetter_f_r_Berlin"]);
    expect(table.get("mcp_ha_light_turn_on")).toEqual({ server: "ha", tool: "light.turn_on" });
  });

  test("long names are cut to 64 with a hash; names two tools would share get one each; both map back", () => {
    const long = "a_tool_name_that_goes_on_and_on_well_past_what_openai_allows_in_a_function_name";
    const refs = [
      { server: "search", tool: long },
      { server: "ha", tool: "light.on" },
      { server: "ha", tool: "light_on" },
      { server: "a_b", tool: "c" },
      { server: "a", tool: "b_c" },
    ];
    const table = assignToolNames(refs);
    expect(table.size).toBe(refs.length);
    for (const name of table.keys()) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const back = new Map([...table].map(([name, ref]) => [`${ref.server}/${ref.tool}`, name]));
    expect(back.get(`search/${long}`)).toMatch(/^mcp_search_a_tool_name_that_goes_on_and_on_well_past_wh_[0-9a-f]{8}$/);
    expect(back.get("ha/light.on")).not.toBe(back.get("ha/light_on"));
    expect(back.get("a_b/c")).not.toBe(back.get("a/b_c"));
    // Deterministic: the same set in another order gives the same names.
    expect(new Map([...assignToolNames([...refs].reverse())].sort())).toEqual(new Map([...table].sort()));
  });
});
