/**
 * Pass-through of an upstream server's own non-/v1 endpoints (llama.cpp's `/props`, `/tokenize`,
 * `/detokenize`, `/apply-template`, `/slots`, `/health`, `/metrics`, ...), opt-in per upstream with
 * `passthrough: [paths]` (docs/llama-cpp.md). Paths are relative to the server root (base_url without
 * its `/v1`); an entry matches that path and everything below it (`/slots` also matches `/slots/0`).
 *
 * - `/upstreams/<name>/<path>` reaches upstream `<name>` when its list allows `<path>`.
 * - `/<path>` at the root reaches the first upstream (config order) whose list allows it, for tools
 *   that expect the server at the root; the proxy's own routes (`/health`, `/metrics`, `/v1/*`,
 *   `/api/*`, `/`) always win, so llama.cpp's `/health` is only reachable as `/upstreams/<name>/health`.
 *
 * Inbound API keys are enforced as for every route (app.ts), and the upstream's own credentials are
 * added as for any upstream call. Anything not allowed answers the proxy's usual 404.
 */
import { Elysia, NotFoundError } from "elysia";
import { callOptions } from "../pipeline/index.ts";
import { tapReply } from "../pipeline/tap.ts";
import type { Runtime } from "../runtime.ts";
import type { UpstreamConfig } from "../config/schema.ts";
import { sendUpstream } from "../upstream/http.ts";
import { serverRoot } from "../upstream/model-facts.ts";
import type { UpstreamState } from "../upstream/registry.ts";
import { answer, startExchange } from "./context.ts";
import { protocolOf, ProxyError } from "./errors.ts";

/** %2F and %5C, the encoded separators (pass-through paths must not carry them). */
const ENCODED_SEPARATOR = /%2f|%5c/i;

/** Request headers not passed on: the client's credentials (the upstream's own are added) and hop-by-hop headers. */
const NOT_FORWARDED = new Set(["host", "authorization", "x-api-key", "content-length", "connection"]);

/**
 * Whether `path` (no query, as sent) is `entry` or below it. A path whose segments decode to `.` or
 * `..`, or hide a `/` or `\\` (`%2F`, `%5C`), is never allowed: the upstream might resolve it to a
 * path outside the list.
 */
export function allowedBy(entry: string, path: string): boolean {
  for (const segment of path.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return false;
    }
    if (decoded === "." || decoded === ".." || /[/\\]/.test(decoded) || segment.includes("\\")) return false;
  }
  const base = entry.replace(/\/+$/, "");
  return path === base || path.startsWith(`${base}/`);
}

/** Whether `upstream`'s `passthrough` list allows `path`. */
export function passesThrough(upstream: UpstreamConfig, path: string): boolean {
  return upstream.passthrough.some((entry) => allowedBy(entry, path));
}

/**
 * Sends `request` to `path` (plus the request's query) on `config`'s server, as it came: method,
 * headers (minus NOT_FORWARDED), body (buffered, so that a retry can resend it), and answers with the
 * upstream's response, tapped for the log. Shared by the /v1 pass-through (openai.ts) and this plugin.
 */
export async function forwardRequest(runtime: Runtime, request: Request, endpoint: string, upstream: UpstreamState, config: UpstreamConfig, path: string): Promise<Response> {
  const exchange = startExchange(runtime, request, endpoint);
  return answer(exchange, protocolOf(endpoint), async () => {
    // An encoded slash or backslash is one segment here but may be decoded (and "..%2F" resolved)
    // by the upstream: never let a pass-through path leave the upstream's base_url.
    if (ENCODED_SEPARATOR.test(path)) {
      throw new ProxyError(400, "Encoded '/' or '\\' in a pass-through path is not allowed", "invalid_request_error", "invalid_url");
    }
    exchange.row.upstream = upstream.name;
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => {
      if (!NOT_FORWARDED.has(k)) headers[k] = v;
    });
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const reply = await sendUpstream(config, {
      ...callOptions(exchange),
      path: `${path}${new URL(request.url).search}`,
      method: request.method,
      headers,
      // Buffered so that retries can resend it; pass-through bodies are small (files go to /v1/files, still < body limit).
      body: hasBody ? new Uint8Array(await request.arrayBuffer()) : null,
      unguardedBody: true,
    });
    const sse = (reply.response.headers.get("content-type") ?? "").includes("text/event-stream");
    return tapReply(reply.response, exchange, { sse, captureBody: false, idle: reply.idle });
  });
}

/** `upstream`'s config aimed at its server root instead of its base_url. */
function atRoot(upstream: UpstreamState): UpstreamConfig {
  return { ...upstream.config, base_url: serverRoot(upstream.config.base_url) };
}

/** The pass-through routes; mount after every other route (the root wildcard takes what nothing else does). */
export function passthroughRoutes(runtime: Runtime) {
  return new Elysia({ name: "passthrough" })
    .all(
      "/upstreams/:name/*",
      ({ request, params }) => {
        const path = `/${params["*"]}`;
        const upstream = runtime.state.upstreams.get(params.name);
        if (!upstream || !passesThrough(upstream.config, path)) throw new NotFoundError();
        return forwardRequest(runtime, request, new URL(request.url).pathname, upstream, atRoot(upstream), path);
      },
      { parse: "none" },
    )
    .all(
      "/*",
      ({ request }) => {
        const path = new URL(request.url).pathname;
        const upstream = runtime.state.upstreams.list.find((u) => passesThrough(u.config, path));
        if (!upstream) throw new NotFoundError();
        return forwardRequest(runtime, request, path, upstream, atRoot(upstream), path);
      },
      { parse: "none" },
    );
}
