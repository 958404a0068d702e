/**
 * Errors of the proxy itself, in the client's protocol: OpenAI clients get
 * `{"error":{"message","type","param","code"}}` (OpenAI API reference, "Error codes"), Ollama clients
 * get `{"error":"..."}` (Ollama docs/api.md). Upstream errors are not built here: they are passed on.
 */
import type { OpenAIErrorBody } from "../protocol/openai.ts";

/** An error with an HTTP status, safe to show to the client. */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = status >= 500 ? "server_error" : "invalid_request_error",
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export type ErrorProtocol = "openai" | "ollama";

/** The Ollama API's endpoints (Ollama docs/api.md); any other path, e.g. /api/v1/... or /api/chat/completions under a prefix, is OpenAI's. */
const OLLAMA_PATH = /^\/api\/(?:chat|generate|tags|show|version|ps|embed|embeddings|pull|push|create|copy|delete)$|^\/api\/blobs\//;

/** Which protocol a path's errors speak. */
export function protocolOf(pathname: string): ErrorProtocol {
  return OLLAMA_PATH.test(pathname) ? "ollama" : "openai";
}

export function openAIErrorBody(err: ProxyError): OpenAIErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

/** Builds the error response for `err` in `protocol`, with extra headers (e.g. X-Request-Id). */
export function errorResponse(err: ProxyError, protocol: ErrorProtocol, headers: Record<string, string> = {}): Response {
  const body = protocol === "ollama" ? { error: err.message } : openAIErrorBody(err);
  return Response.json(body, { status: err.status, headers });
}

/** JSON pointer or Elysia path ("/messages/0/role") -> OpenAI `param` ("messages[0].role"). */
export function paramName(path: string | undefined): string | null {
  if (!path) return null;
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) return null;
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

/**
 * The 400 for a body that breaks its route's schema, naming the first wrong field (`error`: a
 * TypeBox or Elysia value error); never quotes the value, which can be as large as the body limit.
 */
export function invalidValue(error: { path?: string; message?: string } | undefined): ProxyError {
  const param = paramName(error?.path);
  const message = error?.message === "Expected required property" ? "is required" : (error?.message ?? "invalid request body");
  return new ProxyError(400, param ? `Invalid value for '${param}': ${message}` : `Invalid request body: ${message}`, "invalid_request_error", "invalid_value", param);
}
