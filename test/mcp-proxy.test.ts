/**
 * MCP servers in the running proxy, with the real reference server over stdio: state in /health
 * and GET /admin/mcp (tools by exposed name, call counts, p50/p95), reload adding, removing and
 * keeping servers (file watch included), a bad servers file refused at start and on reload, and no
 * child process left after the proxy stops.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { everythingStdio } from "./fakes/mcp-everything.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";
import { run, serve } from "./fakes/serve.ts";
import { until } from "./fakes/until.ts";


const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
};

interface AdminServer {
  name: string;
  state: string;
  tools: string[];
  calls: number;
  p50_ms: number | null;
  p95_ms: number | null;
  pid: number | null;
}

describe("in process", () => {
  let dir: string;
  let serversFile: string;
  let proxy: TestProxy;
  let upstream: FakeOpenAIUpstream;
  const KEY = "sk-admin-test-123";

  const writeServers = (servers: Record<string, unknown>) => writeFileSync(serversFile, stringify({ servers }));
  const admin = async () => (await (await fetch(`${proxy.url}/admin/mcp`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { servers: AdminServer[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "llm-proxy-mcp-proxy-"));
    serversFile = join(dir, "servers.yaml");
    writeServers({ everything: everythingStdio(), dead: { command: "/nonexistent/server" } });
    upstream = new FakeOpenAIUpstream();
    proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url }], mcp_config: serversFile, auth: { keys: [KEY] } });
    await proxy.runtime.mcp.ready(["everything", "dead"]);
  });

  afterAll(async () => {
    await proxy.runtime.mcp.close();
    proxy.stop();
    upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("/health (no key needed) shows every MCP server's state, tool count, last error and last answer", async () => {
    const health = (await (await fetch(`${proxy.url}/health`)).json()) as { status: string; mcp_servers: Record<string, unknown> };
    const everything = health.mcp_servers.everything as { state: string; tools: number; last_error: string | null; last_ok_at: string };
    expect(everything.tools).toBeGreaterThanOrEqual(12);
    expect(Date.parse(everything.last_ok_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(everything).toMatchObject({ state: "ready", last_error: null });
    expect(health.mcp_servers.dead).toMatchObject({ state: "down", tools: 0, last_error: expect.stringContaining("not found"), last_ok_at: null });
    expect(health.status).toBe("degraded");
  });

  test("GET /admin/mcp needs the key and lists servers, exposed tool names, call counts and p50/p95", async () => {
    expect((await fetch(`${proxy.url}/admin/mcp`)).status).toBe(401);
    const source = proxy.runtime.mcp.source("everything");
    for (let i = 0; i < 5; i++) await source.call("mcp_everything_get-sum", { a: i, b: 1 }, { timeoutMs: 5000 });
    const { servers } = await admin();
    const everything = servers.find((s) => s.name === "everything")!;
    expect(everything).toMatchObject({ state: "ready", type: "stdio", calls: 5, errors: 0, pid: expect.any(Number) });
    expect(everything.tools).toContain("mcp_everything_get-sum");
    expect(everything.p50_ms).toBeGreaterThan(0);
    expect(everything.p95_ms!).toBeGreaterThanOrEqual(everything.p50_ms!);
    expect(servers.find((s) => s.name === "dead")).toMatchObject({ state: "down", tools: [], calls: 0, p50_ms: null, next_retry_at: expect.any(String) });
  });

  test("reload diffs the server set: unchanged keeps its process, removed is stopped, added connects", async () => {
    const { servers } = await admin();
    const pid = servers.find((s) => s.name === "everything")!.pid!;
    writeServers({ everything: everythingStdio(), second: { ...everythingStdio(), description: "a second copy" } });
    expect(proxy.runtime.reload().mcp_servers).toEqual({ added: ["second"], removed: ["dead"], changed: [], unchanged: ["everything"] });
    await proxy.runtime.mcp.ready(["second"]);
    const after = (await admin()).servers;
    expect(after.map((s) => s.name)).toEqual(["everything", "second"]);
    expect(after.find((s) => s.name === "everything")!.pid).toBe(pid);
    expect(after.find((s) => s.name === "second")!.tools).toContain("mcp_second_echo");
    const secondPid = after.find((s) => s.name === "second")!.pid!;

    writeServers({ everything: { ...everythingStdio(), timeout_ms: 1234 } });
    expect(proxy.runtime.reload().mcp_servers).toEqual({ added: [], removed: ["second"], changed: ["everything"], unchanged: [] });
    await until(() => !alive(secondPid) && !alive(pid));
    await proxy.runtime.mcp.ready(["everything"]);
    const final = (await admin()).servers;
    expect(final.map((s) => [s.name, s.state])).toEqual([["everything", "ready"]]);
    expect(final[0]!.pid).not.toBe(pid);
  });

  test("a broken servers file is refused on reload and the running servers stay", async () => {
    const pid = (await admin()).servers[0]!.pid;
    writeFileSync(serversFile, "servers:\n  everything:\n    type: carrier-pigeon\n");
    expect(() => proxy.runtime.reload()).toThrow(`${serversFile}: servers.everything.type: expected one of stdio, sse, streamablehttp, http, found "carrier-pigeon"`);
    expect((await admin()).servers.map((s) => [s.name, s.state, s.pid])).toEqual([["everything", "ready", pid]]);
  });
});

describe("the proxy as a process", () => {
  let dir: string;
  let serversFile: string;
  let upstream: FakeOpenAIUpstream;
  let server: Awaited<ReturnType<typeof serve>> | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "llm-proxy-mcp-process-"));
    serversFile = join(dir, "servers.yaml");
    upstream = new FakeOpenAIUpstream();
  });

  afterAll(async () => {
    await server?.stop();
    upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (servers: string) => {
    const path = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, stringify({ upstreams: [{ name: "fake", base_url: upstream.url }], mcp_config: servers }));
    return ["--config", path, "--port", "0", "--data-dir", join(dir, "data")];
  };

  test("saving servers.yaml adds a server; SIGTERM stops the proxy and every MCP server process with it", async () => {
    writeFileSync(serversFile, stringify({ servers: { one: everythingStdio() } }));
    server = await serve(config(serversFile), {}, dir);
    const servers = async () => ((await (await fetch(`${server!.url}/admin/mcp`)).json()) as { servers: AdminServer[] }).servers;
    await until(async () => (await servers())[0]?.state === "ready");
    writeFileSync(serversFile, stringify({ servers: { one: everythingStdio(), two: everythingStdio() } }));
    await until(async () => (await servers()).filter((s) => s.state === "ready").length === 2);
    const pids = (await servers()).map((s) => s.pid!);
    expect(pids.every(alive)).toBe(true);
    expect(await server.stop()).toBe(0);
    server = undefined;
    // Killed and reaped before the proxy exited: not even a zombie is left.
    expect(pids.filter(alive)).toEqual([]);
  });

  test("an invalid servers file stops the start with exit code 1 and the error line", async () => {
    const bad = join(dir, "bad-servers.yaml");
    writeFileSync(bad, "servers:\n  x:\n    command: 42\n    ping_interval_ms: -1\n");
    const { code, stderr } = await run(config(bad), {}, dir);
    expect(code).toBe(1);
    expect(stderr).toContain(`${bad}: servers.x.ping_interval_ms: expected integer to be greater or equal to 0, found -1`);
  });

  test("check-config validates the MCP servers file and the models' mcp_servers against it, starting nothing", async () => {
    mkdirSync(join(dir, "cc", "models"), { recursive: true });
    writeFileSync(join(dir, "cc", "servers.yaml"), stringify({ servers: { ha: { url: "http://127.0.0.1:1/mcp" } } }));
    writeFileSync(join(dir, "cc", "llm-proxy.yaml"), stringify({ upstreams: [], mcp_config: join(dir, "cc", "servers.yaml") }));
    writeFileSync(join(dir, "cc", "models", "a.yml"), "name: a\nmcp_servers: [ha]\n");
    const good = await run(["check-config", "--config", join(dir, "cc", "llm-proxy.yaml")], {}, dir);
    expect(good.code).toBe(0);
    expect(good.stderr).toContain(`${join(dir, "cc", "servers.yaml")}: 1 MCP server(s), valid`);
    writeFileSync(join(dir, "cc", "models", "a.yml"), "name: a\nmcp_servers: {hx: {whitelist: [x]}}\n");
    const bad = await run(["check-config", "--config", join(dir, "cc", "llm-proxy.yaml")], {}, dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${join(dir, "cc", "models", "a.yml")}: mcp_servers: expected the name of a server in the MCP servers file (ha), found "hx"`);
  });
});
