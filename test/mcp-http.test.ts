/**
 * MCP over Streamable HTTP (`/mcp`) and SSE (`/sse`) with the real reference server started on free
 * ports the OS picked: tools, calls, the configured headers on every request, a server restart (the session
 * it forgot is re-initialised and the call goes through), and a call cut off by the server's death
 * (an error result, never replayed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseMcpConfig } from "../src/config/mcp.ts";
import { McpManager } from "../src/tools/mcp/manager.ts";
import { freePort, startEverythingHttp, stopAllEverything, type EverythingHttp } from "./fakes/mcp-everything.ts";
import { until } from "./fakes/until.ts";

const STREAMABLE_PORT = freePort();
const SSE_PORT = freePort();
/** The server behind the recording proxy. */
const RECORDED_PORT = freePort();

const config = (servers: Record<string, unknown>) => parseMcpConfig({ servers }, "test.yaml");


describe("Streamable HTTP", () => {
  const mcp = new McpManager();

  beforeAll(async () => {
    await startEverythingHttp("streamableHttp", STREAMABLE_PORT);
    mcp.configure(config({ ha: { url: `http://127.0.0.1:${STREAMABLE_PORT}/mcp`, connect_timeout_ms: 5000 } }));
    await mcp.ready(["ha"]);
  });

  afterAll(async () => {
    await mcp.close();
    await stopAllEverything();
  });

  test("connects (type inferred from url), lists the tools as mcp_ha_*, calls them", async () => {
    expect(mcp.connection("ha")!.state).toBe("ready");
    expect(mcp.connection("ha")!.config.type).toBe("streamablehttp");
    const names = mcp.source("ha").list().map((t) => t.function.name);
    expect(names).toContain("mcp_ha_echo");
    expect(names).toContain("mcp_ha_get-sum");
    expect(await mcp.source("ha").call("mcp_ha_get-sum", { a: 1, b: 2 }, { timeoutMs: 5000 })).toEqual({ content: "The sum of 1 and 2 is 3." });
  });

  test("a call cut off by the server's death is an error result, and is not replayed when it is back", async () => {
    let server: EverythingHttp = await stopAndRestart(STREAMABLE_PORT);
    await until(() => mcp.connection("ha")!.state === "ready", 20_000);
    const calls: string[] = [];
    const originalSend = StreamableHTTPClientTransport.prototype.send;
    StreamableHTTPClientTransport.prototype.send = function (message, options) {
      if ("method" in message && message.method === "tools/call") calls.push((message.params as { name: string }).name);
      return originalSend.call(this, message, options);
    };
    try {
      const call = mcp.source("ha").call("mcp_ha_trigger-long-running-operation", { duration: 2, steps: 2 }, { timeoutMs: 20_000 });
      await until(() => calls.length === 1);
      await Bun.sleep(100);
      await server.stop();
      const result = await call;
      expect(result.isError).toBe(true);
      expect(result.content).toContain("not retried");
      server = await startEverythingHttp("streamableHttp", STREAMABLE_PORT);
      await until(() => mcp.connection("ha")!.state === "ready", 20_000);
      expect(await mcp.source("ha").call("mcp_ha_echo", { message: "next" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: next" });
      expect(calls).toEqual(["trigger-long-running-operation", "echo"]);
    } finally {
      StreamableHTTPClientTransport.prototype.send = originalSend;
    }
  }, 30_000);
});

/** Stops every server-everything and starts a fresh streamableHttp one on `port`. */
async function stopAndRestart(port: number): Promise<EverythingHttp> {
  await stopAllEverything();
  return startEverythingHttp("streamableHttp", port);
}

describe("Streamable HTTP behind a recording proxy", () => {
  let server: EverythingHttp;
  let recorder: ReturnType<typeof Bun.serve>;
  const seen: { method: string; auth: string | null; session: string | null; body: string }[] = [];
  const mcp = new McpManager();
  let speak404 = false;

  beforeAll(async () => {
    server = await startEverythingHttp("streamableHttp", RECORDED_PORT);
    // Sits in front of the real server and records what the client sends. It offers no standalone
    // event stream (405 to GET, as the spec allows), so a server restart goes unnoticed until the
    // next request, as with servers that drop sessions on their own.
    recorder = Bun.serve({
      port: 0,
      async fetch(request) {
        const body = request.method === "POST" ? await request.text() : "";
        seen.push({ method: request.method, auth: request.headers.get("authorization"), session: request.headers.get("mcp-session-id"), body });
        if (request.method === "GET") return new Response(null, { status: 405 });
        const headers = new Headers(request.headers);
        headers.delete("host");
        const response = await fetch(`http://127.0.0.1:${RECORDED_PORT}/mcp`, { method: request.method, headers, body: body || undefined }).catch(
          (err: Error) => new Response(err.message, { status: 502 }),
        );
        // The reference server answers an unknown session with 400; the spec (and most servers) with 404.
        if (speak404 && response.status === 400 && (await response.clone().text()).includes("session")) {
          return Response.json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }, { status: 404 });
        }
        return response;
      },
    });
    process.env.TEST_MCP_TOKEN = "secret-token-123";
    mcp.configure(
      config({
        ha: { type: "streamablehttp", url: `http://127.0.0.1:${recorder.port}/mcp`, headers: { Authorization: "Bearer ${TEST_MCP_TOKEN}" }, connect_timeout_ms: 5000 },
      }),
    );
    await mcp.ready(["ha"]);
  });

  afterAll(async () => {
    await mcp.close();
    recorder.stop(true);
    await stopAllEverything();
    delete process.env.TEST_MCP_TOKEN;
  });

  test("the configured headers (with ${VAR} from the environment) go with every request", async () => {
    expect(await mcp.source("ha").call("mcp_ha_echo", { message: "x" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: x" });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((r) => r.auth === "Bearer secret-token-123")).toBe(true);
  });

  test("the spec's answer to a forgotten session (404 Session not found) is handled the same way", async () => {
    speak404 = true;
    try {
      const oldSession = seen.findLast((r) => r.session)!.session;
      await server.stop();
      server = await startEverythingHttp("streamableHttp", RECORDED_PORT);
      expect(await mcp.source("ha").call("mcp_ha_echo", { message: "after a 404" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: after a 404" });
      expect(seen.findLast((r) => r.session)!.session).not.toBe(oldSession);
    } finally {
      speak404 = false;
    }
  });

  test("after a server restart the forgotten session is re-initialised and the call goes through", async () => {
    const connection = mcp.connection("ha")!;
    const oldSession = seen.findLast((r) => r.session)!.session;
    await server.stop();
    server = await startEverythingHttp("streamableHttp", RECORDED_PORT);
    const result = await mcp.source("ha").call("mcp_ha_echo", { message: "after restart" }, { timeoutMs: 5000 });
    expect(result).toEqual({ content: "Echo: after restart" });
    const newSession = seen.findLast((r) => r.session)!.session;
    expect(newSession).not.toBe(oldSession);
    // The refused call was sent again on the new session: the server never ran it on the old one.
    const echoes = seen.filter((r) => r.body.includes('"tools/call"') && r.body.includes("after restart"));
    expect(echoes.map((r) => r.session)).toEqual([oldSession, newSession]);
    expect(connection.state).toBe("ready");
  });
});

describe("SSE", () => {
  let server: EverythingHttp;
  const mcp = new McpManager();

  beforeAll(async () => {
    server = await startEverythingHttp("sse", SSE_PORT);
    mcp.configure(config({ legacy: { type: "sse", url: `http://127.0.0.1:${SSE_PORT}/sse`, connect_timeout_ms: 2000 } }));
    await mcp.ready(["legacy"]);
  });

  afterAll(async () => {
    await mcp.close();
    await stopAllEverything();
  });

  test("connects, lists and calls tools", async () => {
    expect(mcp.connection("legacy")!.state).toBe("ready");
    expect(mcp.source("legacy").list().map((t) => t.function.name)).toContain("mcp_legacy_echo");
    expect(await mcp.source("legacy").call("mcp_legacy_echo", { message: "over sse" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: over sse" });
  });

  test("a restarted server is noticed (the event stream drops), reconnected, and its tools work again", async () => {
    const connection = mcp.connection("legacy")!;
    await server.stop();
    await until(() => connection.state !== "ready");
    expect(mcp.source("legacy").list()).toEqual([]);
    server = await startEverythingHttp("sse", SSE_PORT);
    await until(() => connection.state === "ready", 20_000);
    expect(await mcp.source("legacy").call("mcp_legacy_echo", { message: "again" }, { timeoutMs: 5000 })).toEqual({ content: "Echo: again" });
  });
});

describe("credentials", () => {
  test("a server that echoes the token in its error: the token shows nowhere in /health's last_error", async () => {
    // Not an MCP server: an endpoint that refuses every request and quotes the header it got, as
    // some real servers' 401 pages do.
    const refusing = Bun.serve({ port: 0, fetch: (req) => new Response(`invalid credentials: ${req.headers.get("authorization")}`, { status: 401 }) });
    const mcp = new McpManager();
    try {
      mcp.configure(config({ ha: { url: `http://127.0.0.1:${refusing.port}/mcp`, headers: { Authorization: "Bearer very-secret-token-42" } } }));
      await mcp.ready(["ha"]);
      const health = mcp.health().ha!;
      expect(health.state).toBe("down");
      expect(health.last_error).toContain("invalid credentials: ***");
      expect(health.last_error).not.toContain("very-secret-token-42");
    } finally {
      await mcp.close();
      refusing.stop(true);
    }
  });
});
