/**
 * MCP over stdio with the real reference server (@modelcontextprotocol/server-everything) spawned by
 * our Bun.spawn transport: tool list and prefixed names, filters, calls and result shapes, argument
 * validation, progress, timeout, cancellation, a killed server restarted with its tools back, the
 * whole process group killed on close without zombies, a server that never answers, a crash loop.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMcpConfig } from "../src/config/mcp.ts";
import { BunStdioTransport } from "../src/tools/mcp/stdio.ts";
import { McpManager } from "../src/tools/mcp/manager.ts";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { EVERYTHING_JS, everythingStdio } from "./fakes/mcp-everything.ts";
import { toolSourceConformance } from "./tools/conformance.ts";
import { until } from "./fakes/until.ts";

const config = (servers: Record<string, unknown>) => parseMcpConfig({ servers }, "test.yaml");


/** Processes whose process group is `pgid` (from /proc). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the ")" that ends the command name: state ppid pgrp ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The process state letter (R, S, Z, ...) or undefined when it no longer exists. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

toolSourceConformance("mcp (stdio, server-everything)", {
  async make() {
    const mcp = new McpManager();
    mcp.configure(config({ everything: everythingStdio() }));
    await mcp.ready(["everything"]);
    // The manager owns the connection; the suite closes what it made.
    return Object.assign(mcp.source("everything"), { close: () => mcp.close() });
  },
  ok: { name: "mcp_everything_get-sum", args: { a: 20, b: 22 }, expect: (c) => expect(c).toBe("The sum of 20 and 22 is 42.") },
  failing: { name: "mcp_everything_get-sum", args: { a: "twenty" } },
  slow: { name: "mcp_everything_trigger-long-running-operation", args: { duration: 5, steps: 1 } },
});

describe("the everything server over stdio", () => {
  const mcp = new McpManager();
  const sent: JSONRPCMessage[] = [];
  const originalSend = BunStdioTransport.prototype.send;

  beforeAll(async () => {
    // Record what the client sends, to see cancellations and list refreshes on the wire.
    BunStdioTransport.prototype.send = function (message) {
      sent.push(message);
      return originalSend.call(this, message);
    };
    // 1 s without an answer or progress ends a call; calls may take 10 s in all.
    mcp.configure(config({ everything: { ...everythingStdio(), timeout_ms: 1000 } }));
    await mcp.ready(["everything"]);
  });

  afterAll(async () => {
    BunStdioTransport.prototype.send = originalSend;
    await mcp.close();
  });

  test("lists the server's tools as mcp_everything_* OpenAI tools with their input schemas", () => {
    const tools = mcp.source("everything").list();
    const names = tools.map((t) => t.function.name);
    expect(names).toContain("mcp_everything_echo");
    expect(names).toContain("mcp_everything_get-sum");
    expect(names.every((n) => /^[a-zA-Z0-9_-]{1,64}$/.test(n))).toBe(true);
    const sum = tools.find((t) => t.function.name === "mcp_everything_get-sum")!;
    expect(sum.function.description).toBe("Returns the sum of two numbers");
    expect(sum.function.parameters).toMatchObject({ type: "object", required: ["a", "b"], properties: { a: { type: "number" } } });
    expect(sum.function.parameters).not.toHaveProperty("$schema");
  });

  test("whitelist globs apply first, then blacklist globs (server names or exposed names)", () => {
    const names = (filter: object) => mcp.source("everything", filter).list().map((t) => t.function.name);
    expect(names({ whitelist: ["get-*"] }).sort()).toEqual(names({}).filter((n) => n.startsWith("mcp_everything_get-")).sort());
    expect(names({ whitelist: ["get-*"], blacklist: ["get-tiny-image", "mcp_everything_get-env"] })).not.toContain("mcp_everything_get-tiny-image");
    expect(names({ whitelist: ["get-*"], blacklist: ["get-tiny-image", "mcp_everything_get-env"] })).not.toContain("mcp_everything_get-env");
    expect(names({ blacklist: ["*"] })).toEqual([]);
    expect(names({ whitelist: ["echo", "nothing-like-this"] })).toEqual(["mcp_everything_echo"]);
  });

  test("calls tools: text joined, structuredContent as JSON, images and resources as placeholders", async () => {
    const source = mcp.source("everything");
    const opts = { timeoutMs: 5000 };
    expect(await source.call("mcp_everything_echo", { message: "hi there" }, opts)).toEqual({ content: "Echo: hi there" });
    expect(await source.call("mcp_everything_get-sum", { a: 2, b: 40 }, opts)).toEqual({ content: "The sum of 2 and 40 is 42." });
    const structured = await source.call("mcp_everything_get-structured-content", { location: "New York" }, opts);
    expect(JSON.parse(structured.content)).toMatchObject({ temperature: expect.any(Number), conditions: expect.any(String) });
    const image = await source.call("mcp_everything_get-tiny-image", {}, opts);
    expect(image.content).toMatch(/\[image: image\/png, [\d.]+ (KB|bytes)\]/);
    expect(image.content.length).toBeLessThan(500);
    const resource = await source.call("mcp_everything_get-resource-reference", { resourceType: "Text", resourceId: 1 }, opts);
    expect(resource.content).toContain("[resource demo://resource/dynamic/text/1]\nResource 1:");
  });

  test("arguments that do not match inputSchema are an error result the model can correct, with no round trip", async () => {
    const before = sent.filter((m) => "method" in m && m.method === "tools/call").length;
    const bad = await mcp.source("everything").call("mcp_everything_get-sum", { a: "two" }, { timeoutMs: 5000 });
    expect(bad.isError).toBe(true);
    expect(bad.content).toContain("invalid arguments for mcp_everything_get-sum");
    expect(bad.content).toMatch(/must have required property 'b'|must be number/);
    expect(sent.filter((m) => "method" in m && m.method === "tools/call").length).toBe(before);
    expect(mcp.connection("everything")!.status().rejected).toBeGreaterThanOrEqual(1);
  });

  test("the source of every server (templates, a model's tools list) lists and calls the same tools", async () => {
    const all = mcp.source();
    expect(all.name).toBe("mcp");
    expect(all.list().map((t) => t.function.name)).toEqual(mcp.source("everything").list().map((t) => t.function.name));
    expect(await all.call("mcp_everything_echo", { message: "via all" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: via all" });
    expect(await all.call("mcp_nowhere_echo", {}, { timeoutMs: 5000 })).toEqual({ isError: true, content: "unknown tool mcp_nowhere_echo: no MCP server offers it now" });
  });

  test("an unknown or filtered-out tool is an error result", async () => {
    expect((await mcp.source("everything").call("mcp_everything_nope", {}, { timeoutMs: 1000 })).isError).toBe(true);
    const filtered = mcp.source("everything", { blacklist: ["echo"] });
    expect((await filtered.call("mcp_everything_echo", { message: "x" }, { timeoutMs: 1000 })).content).toContain("unknown tool");
  });

  test("progress notifications reach onProgress and keep a long call alive past timeout_ms", async () => {
    const progress: string[] = [];
    // 4 steps of 0.4 s each against the server's 1 s timeout_ms: only the progress resets keep it alive.
    const result = await mcp
      .source("everything")
      .call("mcp_everything_trigger-long-running-operation", { duration: 1.6, steps: 4 }, { timeoutMs: 10_000, onProgress: (m) => progress.push(m) });
    expect(result).toEqual({ content: "Long running operation completed. Duration: 1.6 seconds, Steps: 4." });
    // The SDK may settle the call before it hands over the last notification, sent just before the result.
    expect(progress.slice(0, 3)).toEqual([1, 2, 3].map((i) => `mcp_everything_trigger-long-running-operation (${i}/4)`));
  });

  test("a call without an answer or progress within the timeout is an error result and is cancelled on the wire", async () => {
    const result = await mcp.source("everything").call("mcp_everything_trigger-long-running-operation", { duration: 3, steps: 1 }, { timeoutMs: 10_000 });
    expect(result.isError).toBe(true);
    expect(result.content).toContain("timed out with no answer or progress for 1000 ms");
    expect(sent.some((m) => "method" in m && m.method === "notifications/cancelled")).toBe(true);
  });

  test("progress cannot extend a call past the caller's timeoutMs", async () => {
    const result = await mcp.source("everything").call("mcp_everything_trigger-long-running-operation", { duration: 2, steps: 8 }, { timeoutMs: 600 });
    expect(result).toMatchObject({ isError: true, content: expect.stringContaining("timed out after 600 ms in all") });
  });

  test("an aborted call rejects with the abort reason and sends notifications/cancelled with its request id", async () => {
    const controller = new AbortController();
    const call = mcp.source("everything").call("mcp_everything_trigger-long-running-operation", { duration: 3, steps: 3 }, { timeoutMs: 10_000, signal: controller.signal });
    await Bun.sleep(200);
    const request = sent.findLast((m) => "method" in m && m.method === "tools/call") as { id: number };
    controller.abort(new Error("client went away"));
    expect(call).rejects.toThrow("client went away");
    await until(() => sent.some((m) => "method" in m && m.method === "notifications/cancelled" && (m.params as { requestId: number }).requestId === request.id));
    // The connection is still usable.
    expect(await mcp.source("everything").call("mcp_everything_echo", { message: "still here" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: still here" });
  });

  test("tools/list_changed from the server refreshes the cached list", async () => {
    // The server registers its client-dependent tools after initialization and announces them.
    await until(() => sent.filter((m) => "method" in m && m.method === "tools/list").length >= 2);
  });

  test("a killed server: the call in flight fails without replay; it is restarted, its tools absent meanwhile and back after", async () => {
    const connection = mcp.connection("everything")!;
    const pid = connection.status().pid!;
    const long = mcp.source("everything").call("mcp_everything_trigger-long-running-operation", { duration: 2, steps: 2 }, { timeoutMs: 10_000 });
    await Bun.sleep(200);
    process.kill(pid, "SIGKILL");
    // The call in flight fails; it is not sent again to the restarted server (it may have had effects).
    expect(await long).toMatchObject({ isError: true, content: expect.stringContaining("was not retried") });
    const longCalls = () => sent.filter((m) => "method" in m && m.method === "tools/call" && (m.params as { name: string }).name === "trigger-long-running-operation").length;
    const before = longCalls();
    await until(() => connection.state !== "ready");
    expect(mcp.source("everything").list()).toEqual([]);
    expect(mcp.health().everything!.state).not.toBe("ready");
    await until(() => connection.state === "ready");
    expect(connection.status().pid).not.toBe(pid);
    expect(connection.status().restarts).toBe(1);
    expect(mcp.source("everything").list().map((t) => t.function.name)).toContain("mcp_everything_echo");
    expect(await mcp.source("everything").call("mcp_everything_echo", { message: "back" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: back" });
    expect(longCalls()).toBe(before);
  });
});

describe("process lifecycle", () => {
  let dir: string;
  const managers: McpManager[] = [];
  const manager = () => {
    const m = new McpManager();
    managers.push(m);
    return m;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "llm-proxy-mcp-"));
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("close kills the whole process group (a wrapper and the server it started) and leaves no zombie", async () => {
    const mcp = manager();
    // `sh` stays the parent (the trailing `:` prevents exec), like npx in front of node.
    mcp.configure(config({ wrapped: { command: "sh", args: ["-c", `"${process.execPath}" "${EVERYTHING_JS}" stdio; :`] } }));
    await mcp.ready(["wrapped"]);
    expect(mcp.connection("wrapped")!.state).toBe("ready");
    const pgid = mcp.connection("wrapped")!.status().pid!;
    expect(groupMembers(pgid).length).toBeGreaterThanOrEqual(2);
    await mcp.close();
    // Our own child is reaped at once; the server behind the wrapper was reparented to init, which reaps it.
    expect(processState(pgid)).toBeUndefined();
    await until(() => groupMembers(pgid).length === 0, 5000);
  });

  test("a server that never answers: ready() returns within connect_timeout_ms, its tools are absent, its process is killed", async () => {
    const mcp = manager();
    mcp.configure(config({ silent: { command: "sleep", args: ["60"], connect_timeout_ms: 300 } }));
    const connection = mcp.connection("silent")!;
    await until(() => connection.status().pid !== null, 2000);
    const pid = connection.status().pid!;
    await mcp.ready(["silent"]);
    expect(connection.state).toBe("down");
    expect(connection.status().last_error).toContain("connect_timeout_ms (300 ms)");
    expect(mcp.source("silent").list()).toEqual([]);
    await until(() => processState(pid) === undefined, 5000);
    const result = await mcp.source("silent").call("mcp_silent_x", {}, { timeoutMs: 1000 });
    expect(result).toMatchObject({ isError: true, content: expect.stringContaining("is not connected (down") });
  });

  test("a server that crashes in a loop is restarted with growing delays, not hot", async () => {
    const mcp = manager();
    const starts = join(dir, "starts");
    mcp.configure(config({ crashing: { command: "sh", args: ["-c", `echo start >> "${starts}"; exit 3`] } }));
    await mcp.ready(["crashing"]);
    expect(mcp.connection("crashing")!.status().last_error).toContain("code 3");
    await Bun.sleep(3500);
    // Delays of ~1 s, ~2 s, ~4 s: three starts at most in 3.5 s (a hot loop would make hundreds).
    const count = readFileSync(starts, "utf8").trim().split("\n").length;
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(3);
    expect(mcp.connection("crashing")!.state).not.toBe("ready");
  });

  test("servers connect with bounded concurrency (connect_concurrency)", async () => {
    const mcp = manager();
    const silent = { command: "sleep", args: ["60"], connect_timeout_ms: 400 };
    mcp.configure(parseMcpConfig({ connect_concurrency: 1, servers: { a: silent, b: silent } }, "test.yaml"));
    const running = () => ["a", "b"].filter((n) => mcp.connection(n)!.status().pid !== null).length;
    // The second is spawned only after the first attempt's connect timeout: never two at once.
    let most = 0;
    let done = false;
    void mcp.ready(["a", "b"]).then(() => (done = true));
    while (!done) {
      most = Math.max(most, running());
      await Bun.sleep(10);
    }
    expect(most).toBe(1);
    expect(mcp.health()).toMatchObject({ a: { state: "down" }, b: { state: "down" } });
  });

  test("a command that does not exist is reported, not thrown", async () => {
    const mcp = manager();
    mcp.configure(config({ missing: { command: "/nonexistent/mcp-server" } }));
    await mcp.ready(["missing"]);
    expect(mcp.health().missing).toMatchObject({ state: "down", tools: 0, last_error: expect.stringContaining("not found") });
  });
});
