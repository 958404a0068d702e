/**
 * The command line, run as a subprocess (`bun index.ts ...`): --help, --version, usage errors,
 * check-config (secrets masked, exit 1 on an invalid file), and serve on embedded defaults (no config
 * file at all) and on the shipped conf/llm-proxy.yaml.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import pkg from "../package.json" with { type: "json" };
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { ROOT, run as runProxy, serve as serveProxy } from "./fakes/serve.ts";

let dir: string;
let upstream: FakeOpenAIUpstream;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llm-proxy-cli-"));
  upstream = new FakeOpenAIUpstream();
});
afterAll(() => {
  upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string> = {}, cwd = dir) => runProxy(args, env, cwd);
const serve = (args: string[], env: Record<string, string>, cwd = dir) => serveProxy(args, env, cwd);

describe("informational commands", () => {
  test("--help prints the usage and the precedence, exit 0", async () => {
    const { stdout, code } = await run(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage:");
    expect(stdout).toContain("check-config");
    expect(stdout).toContain("Precedence: flag > environment > config file > default.");
  });

  test("--version prints the package version", async () => {
    const { stdout, code } = await run(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });

  test("bad usage exits 2 with a message", async () => {
    for (const args of [["frobnicate"], ["--port", "http"], ["--no-such-flag"]]) {
      const { stderr, code } = await run(args);
      expect(code).toBe(2);
      expect(stderr).toStartWith("llm-proxy: ");
    }
  });
});

describe("check-config", () => {
  test("prints the effective config with secrets masked", async () => {
    const path = join(dir, "secret.yaml");
    writeFileSync(path, "auth:\n  keys: [sk-inbound-secret]\nupstreams:\n  - name: local\n    base_url: http://127.0.0.1:8000/v1\n    api_key: ${UP_KEY}\n");
    const { stdout, stderr, code } = await run(["check-config", "--config", path], { UP_KEY: "sk-upstream-secret", PORT: "7777" });
    expect(code).toBe(0);
    expect(stderr).toContain(`${path}: valid`);
    expect(stdout).toContain("api_key: \"***\"");
    expect(stdout).toContain("port: 7777");
    expect(stdout).not.toContain("sk-upstream-secret");
    expect(stdout).not.toContain("sk-inbound-secret");
  });

  test("exits 1 on an invalid config, naming file, key path and value", async () => {
    const path = join(dir, "invalid.yaml");
    writeFileSync(path, "server:\n  port: 99999\n");
    const { stderr, code } = await run(["check-config", "--config", path]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${path}: server.port: expected integer to be less or equal to 65535, found 99999`);
  });

  test("exits 1 on a missing --config file", async () => {
    const { stderr, code } = await run(["check-config", "--config", join(dir, "nope.yaml")]);
    expect(code).toBe(1);
    expect(stderr).toContain("nope.yaml: file not found");
  });

  test("without any config file, the embedded defaults are valid", async () => {
    const { stdout, stderr, code } = await run(["check-config"]);
    expect(code).toBe(0);
    expect(stderr).toContain("embedded defaults: valid");
    expect(stdout).toContain("base_url: https://api.openai.com/v1");
  });
});

describe("serve", () => {
  test("with no config file at all, starts on embedded defaults with the upstream from the environment", async () => {
    const cwd = mkdtempSync(join(dir, "bare-"));
    const server = await serve(["--port", "0"], { OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: "sk-env-upstream" }, cwd);
    try {
      expect(server.out).toContain("config: embedded defaults");
      const health = (await (await fetch(`${server.url}/health`)).json()) as any;
      expect(health.upstreams).toEqual([expect.objectContaining({ name: "default", base_url: upstream.url, reachable: true })]);
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "client", maxRetries: 0 });
      const res = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
      expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      expect(upstream.chatRequests.at(-1)!.headers.authorization).toBe("Bearer sk-env-upstream");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("an unusable data directory or a taken port: exit 1 with one line, no stack trace", async () => {
    const notADir = join(dir, "a-file");
    writeFileSync(notADir, "");
    const badDir = await run(["--port", "0", "--data-dir", join(notADir, "data")]);
    expect(badDir.code).toBe(1);
    expect(badDir.stderr).toStartWith("llm-proxy: cannot start: ");
    expect(badDir.stderr.trim().split("\n")).toHaveLength(1);

    const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    try {
      const busy = await run(["--port", String(taken.port), "--data-dir", join(dir, "busy-data")]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain("EADDRINUSE");
    } finally {
      taken.stop(true);
    }
  });

  test("the shipped conf/llm-proxy.yaml serves with OPENAI_BASE_URL and a --port flag over PORT", async () => {
    const data = mkdtempSync(join(dir, "data-"));
    const server = await serve(["--config", join(ROOT, "conf/llm-proxy.yaml"), "--port", "0", "--data-dir", data], { OPENAI_BASE_URL: upstream.url, PORT: "1" });
    try {
      const ids = (await new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "client", maxRetries: 0 }).models.list()).data.map((m) => m.id);
      expect(ids).toContain("fake-model");
      expect(server.out).toContain("conf/llm-proxy.yaml");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
