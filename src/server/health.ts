/**
 * GET /health: proxy status and, per upstream, reachability and last error; per MCP server its
 * state, tool count, last error and last answer (`mcp_servers`). Cheap: it answers from
 * what recent requests saw; an upstream nothing was heard from for 30 s is probed (its model list,
 * 3 s timeout) in the background, and the first call ever waits for that probe.
 */
import { Elysia } from "elysia";
import { redact, upstreamSecrets } from "../config/secrets.ts";
import type { Runtime } from "../runtime.ts";
import { VERSION } from "../version.ts";

const PROBE_AFTER_MS = 30_000;

export function healthRoutes(runtime: Runtime) {
  let firstProbe: Promise<unknown> | undefined;
  return new Elysia({ name: "health" }).get("/health", async () => {
    const { upstreams } = runtime.state;
    const stale = upstreams.list.filter((u) => u.staleMs > PROBE_AFTER_MS);
    const probes = Promise.all(stale.map((u) => u.probe()));
    if (!firstProbe) await (firstProbe = probes);
    const list = upstreams.list.map((u) => ({ name: u.name, type: u.config.type, base_url: redact(u.config.base_url, upstreamSecrets(u.config)), ...u.health }));
    const down = list.filter((u) => u.reachable === false).length;
    const mcpServers = runtime.mcp.health();
    // A dead MCP server takes tools away from augmented models: degraded, not down.
    const mcpDown = Object.values(mcpServers).some((s) => s.state === "down");
    return {
      status: down === list.length && down > 0 ? "down" : down > 0 || mcpDown ? "degraded" : "ok",
      version: VERSION,
      uptime_s: Math.round((Date.now() - runtime.startedAt) / 1000),
      request_log: runtime.requestLog ? { path: runtime.requestLog.path, failures: runtime.requestLog.failures } : null,
      upstreams: list,
      mcp_servers: mcpServers,
    };
  });
}
