/**
 * The HTTP server: the Elysia app (routes as plugins, errors in the client's protocol) behind a thin
 * Bun.serve handler that does what must happen before any parsing: CORS preflight, the body limit,
 * inbound API keys, and the X-Request-Id / CORS headers on every response.
 */
import { Elysia } from "elysia";
import type { Server } from "bun";
import type { Runtime } from "../runtime.ts";
import { isAdminPath } from "./auth.ts";
import { checkBodyLimit } from "./body-limit.ts";
import { errorResponse, invalidValue, ProxyError, protocolOf } from "./errors.ts";
import { adminRoutes } from "./admin.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { metricsRoutes } from "./metrics.ts";
import { uiRoutes } from "./ui.ts";
import { healthRoutes } from "./health.ts";
import { ollamaRoutes } from "./ollama.ts";
import { openaiRoutes } from "./openai.ts";
import { passthroughRoutes } from "./passthrough.ts";
import { requestIdOf } from "./request-id.ts";
import { remakeRequest, requestTarget } from "./request-target.ts";

interface ValidationLike {
  valueError?: { path?: string; message?: string };
  all?: { path?: string; summary?: string; message?: string }[];
}

/** Elysia's own errors (validation, parse, not found) and thrown ProxyErrors, as client errors. */
export function toProxyError(code: string | number, error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  switch (code) {
    case "VALIDATION": {
      const v = error as ValidationLike;
      return invalidValue(v.valueError ?? v.all?.[0]);
    }
    case "PARSE":
      // Elysia wraps what a parse hook throws: the depth limit's own 400 (json-body.ts) stays itself.
      if ((error as Error)?.cause instanceof ProxyError) return (error as Error).cause as ProxyError;
      return new ProxyError(400, "We could not parse the JSON body of your request: it is not valid JSON", "invalid_request_error", "invalid_json");
    case "NOT_FOUND":
      return new ProxyError(404, "Unknown request URL. Please check the URL and method.", "invalid_request_error", "unknown_url");
    default:
      console.error("llm-proxy: unexpected error", error);
      return new ProxyError(500, "internal error in llm-proxy", "server_error");
  }
}

/** The Elysia app with every route of the proxy. */
export function createApp(runtime: Runtime) {
  const prefix = runtime.state.config.server.path_prefix;
  const app = new Elysia({ name: "llm-proxy", normalize: false })
    .onError(({ code, error, request }) => errorResponse(toProxyError(code, error), protocolOf(requestTarget(request)?.pathname ?? "/")))
    .use(healthRoutes(runtime))
    .use(adminRoutes(runtime))
    .use(dashboardRoutes(runtime))
    .use(metricsRoutes(runtime))
    .use(uiRoutes())
    .use(openaiRoutes(runtime))
    .use(ollamaRoutes(runtime));
  return (prefix ? app.use(openaiRoutes(runtime, prefix)) : app).use(passthroughRoutes(runtime));
}

function corsHeaders(runtime: Runtime, request: Request): Record<string, string> | undefined {
  const origins = runtime.state.config.server.cors_origins;
  const origin = request.headers.get("origin");
  if (!origin || origins.length === 0) return undefined;
  if (!origins.includes("*") && !origins.includes(origin)) return undefined;
  return {
    "access-control-allow-origin": origins.includes("*") ? "*" : origin,
    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "access-control-allow-headers": request.headers.get("access-control-request-headers") ?? "authorization, content-type, x-api-key",
    "access-control-expose-headers": "x-request-id, x-llm-proxy-tools",
    "access-control-max-age": "600",
    vary: "origin",
  };
}

/** The fetch handler for Bun.serve. */
export function createHandler(runtime: Runtime): (request: Request, server?: Server<unknown>) => Promise<Response> {
  const app = createApp(runtime);
  app.compile();
  return async (received, server) => {
    const id = requestIdOf(received);
    const cors = corsHeaders(runtime, received);
    const target = requestTarget(received);
    const pathname = target?.pathname ?? "/";
    const reject = (err: ProxyError) => errorResponse(err, protocolOf(pathname), { "x-request-id": id, ...cors });
    if (!target) return reject(new ProxyError(400, "The request target is not a valid URL path", "invalid_request_error", "invalid_url"));
    // Authorisation and routing see the same path: a URL Elysia would cut elsewhere is re-made.
    const request = target.url === received.url ? received : remakeRequest(received, { url: target.url }, id);
    // A CORS preflight is the proxy's to answer (never the upstream's): without the headers for an
    // origin that is not configured, so the browser refuses.
    if (request.method === "OPTIONS" && (cors || request.headers.has("access-control-request-method"))) {
      return new Response(null, { status: 204, headers: { "x-request-id": id, ...cors } });
    }
    const { config, keys } = runtime.state;
    if (isAdminPath(pathname)) {
      const verdict = keys.admitAdmin(pathname, request.headers, server?.requestIP(received)?.address);
      if (!verdict.ok) return reject(new ProxyError(verdict.status, verdict.message, verdict.status === 401 ? "invalid_request_error" : "permission_error", verdict.status === 401 ? "invalid_api_key" : "admin_only"));
    } else if (!keys.allows(pathname, request.headers)) {
      return reject(new ProxyError(401, "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.", "invalid_request_error", "invalid_api_key"));
    }
    const limit = config.server.body_limit_bytes;
    const checked = await checkBodyLimit(request, limit, id);
    if (!checked.ok) {
      return reject(new ProxyError(413, `Request body of ${checked.bytes} bytes or more exceeds the limit of ${limit} bytes`, "invalid_request_error", "request_too_large"));
    }
    const response = await app.handle(checked.request);
    response.headers.set("x-request-id", id);
    if (cors) for (const [k, v] of Object.entries(cors)) response.headers.set(k, v);
    return response;
  };
}

/**
 * Starts listening. `port: 0` picks a free port (see the returned server's `port`).
 * @throws when the address is in use
 */
export function startServer(runtime: Runtime) {
  const { host, port } = runtime.state.config.server;
  return Bun.serve({
    hostname: host,
    port,
    fetch: createHandler(runtime),
    // Off: Bun's limit answers an empty 413; ours (body-limit.ts) answers in the client's protocol
    // and follows config reloads. It never buffers more than body_limit_bytes.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // LLMs can think for minutes before the first byte; our upstream timeouts bound that instead.
    idleTimeout: 0,
  });
}
