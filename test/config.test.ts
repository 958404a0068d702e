/**
 * Configuration loading: error messages that name the file, key path, expectation and value;
 * ${VAR} / ${VAR:-default} interpolation; the environment variables of the tools users migrate
 * from; precedence flag > environment > file > default; secrets masked for display.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig, maskSecrets, type LoadOptions } from "../src/config/load.ts";
import { configErrorOf } from "./fakes/config-error.ts";
import { yamlFiles } from "./fakes/yaml-files.ts";

const { dir, file } = yamlFiles("config");

const load = (text: string, env: Record<string, string> = {}, extra: Omit<LoadOptions, "path" | "env"> = {}) => loadConfig({ path: file(text), env, ...extra }).config;


const ONE_UPSTREAM = "upstreams:\n  - name: local\n    base_url: http://127.0.0.1:8000/v1\n";

describe("errors name the file, key path, expectation and value", () => {
  test("invalid YAML gives file, line and column", () => {
    const path = file("server:\n  port: [1\n");
    const message = configErrorOf(() => loadConfig({ path, env: {} }));
    expect(message).toStartWith(`${path}: invalid YAML line 3, column 1: `);
    expect(message).not.toContain("at line");
  });

  test("schema violations, one line each", () => {
    const path = file(
      ["server:", "  port: eighty", "  prot: 1", "upstreams:", "  - name: a", "    base_url: ftp://x", "    timeout_ms: soon", "  - name: b"].join("\n"),
    );
    const lines = configErrorOf(() => loadConfig({ path, env: {} })).split("\n");
    expect(lines).toContain(`${path}: server.port: expected integer, found "eighty"`);
    expect(lines).toContain(`${path}: server.prot: unexpected property, found 1`);
    expect(lines).toContain(`${path}: upstreams[0].base_url: expected string to match '^https?://', found "ftp://x"`);
    expect(lines).toContain(`${path}: upstreams[0].timeout_ms: expected integer, found "soon"`);
    expect(lines).toContain(`${path}: upstreams[1].base_url: expected a value (required), found nothing`);
  });

  test("auth.key_sha256 must be SHA-256 hex digests (once: accepted, then every request got 401)", () => {
    const message = configErrorOf(() => load('auth:\n  key_sha256: ["nothex"]\n'));
    expect(message).toContain("auth.key_sha256[0]");
    expect(message).toContain('found "nothex"');
    expect(configErrorOf(() => load(`auth:\n  key_sha256: ["${"a".repeat(63)}"]\n`))).toContain("auth.key_sha256[0]");
    expect(load(`auth:\n  key_sha256: [" ${"AB".repeat(32)} "]\n`).auth.key_sha256).toHaveLength(1);
  });

  test("a document that is not a mapping", () => {
    const path = file("- just\n- a list\n");
    expect(configErrorOf(() => loadConfig({ path, env: {} }))).toBe(`${path}: (root): expected a mapping of settings, found ["just","a list"]`);
  });

  test("duplicate upstream names", () => {
    const path = file(`${ONE_UPSTREAM}  - name: local\n    base_url: http://127.0.0.1:9000/v1\n`);
    expect(configErrorOf(() => loadConfig({ path, env: {} }))).toBe(`${path}: upstreams[1].name: expected a unique name, found "local" twice`);
  });

  test("a named file that does not exist", () => {
    const path = join(dir, "missing.yaml");
    expect(configErrorOf(() => loadConfig({ path, env: {} }))).toBe(`${path}: file not found`);
    expect(configErrorOf(() => loadConfig({ env: { LLM_PROXY_CONFIG: path } }))).toBe(`${path}: file not found`);
  });

  test("an empty file is a valid config", () => {
    expect(load("").server.port).toBe(8080);
  });
});

describe("${VAR} interpolation", () => {
  const text = [
    "upstreams:",
    "  - name: local",
    "    base_url: ${UPSTREAM_URL:-http://127.0.0.1:8000/v1}",
    "    api_key: ${UPSTREAM_KEY}",
    "    headers: { x-note: 'costs $${DOLLARS}' }",
  ].join("\n");

  test("set variables, defaults and escaped literals", () => {
    const config = load(text, { UPSTREAM_KEY: "sk-from-env" });
    expect(config.upstreams[0]).toMatchObject({ base_url: "http://127.0.0.1:8000/v1", api_key: "sk-from-env", headers: { "x-note": "costs ${DOLLARS}" } });
    expect(load(text, { UPSTREAM_KEY: "k", UPSTREAM_URL: "https://example.com/v1" }).upstreams[0]!.base_url).toBe("https://example.com/v1");
  });

  test("an empty variable takes the default", () => {
    expect(load(text, { UPSTREAM_KEY: "k", UPSTREAM_URL: "" }).upstreams[0]!.base_url).toBe("http://127.0.0.1:8000/v1");
  });

  test("a value cannot change the document's structure", () => {
    const config = load(text, { UPSTREAM_KEY: "k\nserver:\n  port: 1" });
    expect(config.upstreams[0]!.api_key).toBe("k\nserver:\n  port: 1");
    expect(config.server.port).toBe(8080);
  });

  test("an unset variable without default names the file, key path and variable", () => {
    const path = file(text);
    expect(configErrorOf(() => loadConfig({ path, env: {} }))).toBe(
      `${path}: upstreams[0].api_key: environment variable UPSTREAM_KEY is not set (use \${UPSTREAM_KEY:-default} to allow that)`,
    );
  });

  test("interpolated values are validated like written ones", () => {
    const path = file("server:\n  port: ${PORT_TEXT}\n");
    expect(configErrorOf(() => loadConfig({ path, env: { PORT_TEXT: "http" } }))).toBe(`${path}: server.port: expected integer, found "http"`);
  });
});

describe("environment variables", () => {
  test("upstream address and key: OPENAI_* first, then the short names", () => {
    const first = load(ONE_UPSTREAM, { OPENAI_API_KEY: "sk-a", API_KEY: "sk-b", OPENAI_API_URL: "http://a/v1/", OPENAI_BASE_URL: "http://b/v1", BASE_URL: "http://c/v1" });
    expect(first.upstreams[0]).toMatchObject({ api_key: "sk-a", base_url: "http://a/v1" });
    const second = load(ONE_UPSTREAM, { API_KEY: "sk-b", OPENAI_BASE_URL: "http://b/v1", BASE_URL: "http://c/v1" });
    expect(second.upstreams[0]).toMatchObject({ api_key: "sk-b", base_url: "http://b/v1" });
    expect(load(ONE_UPSTREAM, { BASE_URL: "http://c/v1" }).upstreams[0]!.base_url).toBe("http://c/v1");
  });

  test("HOST, PORT, PROXY_PATH_PREFIX, LLM_PROXY_DATA_DIR", () => {
    const config = load(ONE_UPSTREAM, { HOST: "0.0.0.0", PORT: "9090", PROXY_PATH_PREFIX: "/api/v1/", LLM_PROXY_DATA_DIR: "/var/lib/llm-proxy" });
    expect(config.server).toMatchObject({ host: "0.0.0.0", port: 9090, path_prefix: "/api/v1" });
    expect(config.data_dir).toBe("/var/lib/llm-proxy");
  });

  test("timeouts and retry settings apply to every upstream; bare numbers are seconds", () => {
    const two = `${ONE_UPSTREAM}  - name: other\n    base_url: http://127.0.0.1:9000/v1\n    timeout_ms: 5\n`;
    const config = load(two, { REQUEST_TIMEOUT: "30", TIMEOUT: "1", MAX_RETRIES: "5", BASE_RETRY_DELAY: "250ms", RATE_LIMIT_WAIT: "1.5s" });
    for (const upstream of config.upstreams) {
      expect(upstream).toMatchObject({ timeout_ms: 30_000, max_retries: 5, retry_base_delay_ms: 250, rate_limit_wait_ms: 1500 });
    }
    expect(load(ONE_UPSTREAM, { TIMEOUT: "2m" }).upstreams[0]!.timeout_ms).toBe(120_000);
  });

  test("malformed values name the variable", () => {
    const path = file(ONE_UPSTREAM);
    expect(configErrorOf(() => loadConfig({ path, env: { REQUEST_TIMEOUT: "soon" } }))).toBe(
      `${path}: REQUEST_TIMEOUT: expected a duration such as 30, 30s or 500ms, found "soon"`,
    );
    expect(configErrorOf(() => loadConfig({ path, env: { MAX_RETRIES: "many" } }))).toContain(`upstreams[0].max_retries: expected integer, found "many"`);
  });

  test("COMPRESSION_RATIO and TOKENS_TO_KEEP_RATIO set the ratios and turn on mode random, over the file's mode", () => {
    const fit = "compression:\n  mode: fit\n";
    expect(load(fit, { COMPRESSION_RATIO: "2" }).compression).toMatchObject({ mode: "random", ratio: 2, keep_ratio: 1 });
    expect(load(fit, { TOKENS_TO_KEEP_RATIO: "0.7" }).compression).toMatchObject({ mode: "random", keep_ratio: 0.7 });
    // a ratio that drops nothing leaves the mode alone
    expect(load(fit, { COMPRESSION_RATIO: "1" }).compression.mode).toBe("fit");
    const path = file(fit);
    expect(configErrorOf(() => loadConfig({ path, env: { TOKENS_TO_KEEP_RATIO: "1.5" } }))).toContain("compression.keep_ratio: expected number to be less or equal to 1");
  });

  test("without upstreams in the file, the environment makes the default one", () => {
    const config = load("server:\n  port: 1234\n", { OPENAI_BASE_URL: "http://127.0.0.1:8000/v1", OPENAI_API_KEY: "sk-env" });
    expect(config.upstreams).toHaveLength(1);
    expect(config.upstreams[0]).toMatchObject({ name: "default", type: "openai", base_url: "http://127.0.0.1:8000/v1", api_key: "sk-env" });
  });
});

describe("precedence: flag > environment > file > default", () => {
  const text = `server:\n  port: 1111\n  host: 127.0.0.2\ndata_dir: /from/file\n${ONE_UPSTREAM}`;
  const env = { PORT: "2222", HOST: "127.0.0.3", LLM_PROXY_DATA_DIR: "/from/env" };

  test("flag wins", () => {
    const config = load(text, env, { overrides: { port: 3333, host: "127.0.0.4", data_dir: "/from/flag" } });
    expect([config.server.port, config.server.host, config.data_dir]).toEqual([3333, "127.0.0.4", "/from/flag"]);
  });

  test("then the environment", () => {
    const config = load(text, env);
    expect([config.server.port, config.server.host, config.data_dir]).toEqual([2222, "127.0.0.3", "/from/env"]);
  });

  test("then the file", () => {
    const config = load(text);
    expect([config.server.port, config.server.host, config.data_dir]).toEqual([1111, "127.0.0.2", "/from/file"]);
  });

  test("then the defaults", () => {
    const config = load(ONE_UPSTREAM);
    expect([config.server.port, config.server.host, config.data_dir]).toEqual([8080, "127.0.0.1", "./data"]);
    expect(config.upstreams[0]).toMatchObject({ max_retries: 2, timeout_ms: 600_000, models: "auto", embeddings_base64: "passthrough" });
  });
});

describe("maskSecrets", () => {
  test("masks api keys, inbound keys and credential headers, nothing else", () => {
    const config = load(
      [
        "auth:",
        "  keys: [sk-inbound-1, sk-inbound-2]",
        "upstreams:",
        "  - name: local",
        "    base_url: http://127.0.0.1:8000/v1",
        "    api_key: sk-upstream",
        "    headers: { Authorization: Bearer sk-h, X-Api-Key: sk-x, HTTP-Referer: https://me.example }",
      ].join("\n"),
    );
    const masked = maskSecrets(config);
    expect(masked.auth.keys).toEqual(["***", "***"]);
    expect(masked.upstreams[0]!.api_key).toBe("***");
    expect(masked.upstreams[0]!.headers).toEqual({ Authorization: "***", "X-Api-Key": "***", "HTTP-Referer": "https://me.example" });
    expect(masked.upstreams[0]!.base_url).toBe("http://127.0.0.1:8000/v1");
    expect(config.upstreams[0]!.api_key).toBe("sk-upstream");
  });

  test("masks the password of a base_url with credentials", () => {
    const config = load("upstreams:\n  - name: basic\n    base_url: https://me:p%40ss@llm.example/v1\n");
    expect(maskSecrets(config).upstreams[0]!.base_url).toBe("https://me:***@llm.example/v1");
  });
});
