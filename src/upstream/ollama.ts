/**
 * Backend for native Ollama servers (upstream `type: ollama`, base_url without /v1, e.g.
 * http://127.0.0.1:11434): speaks /api/chat, /api/embed, /api/tags and /api/show (Ollama
 * docs/api.md). The canonical request is translated to Ollama's (the Ollama front's own fields such
 * as num_ctx, keep_alive and think come back from OLLAMA_EXTRAS), and the reply back to OpenAI's:
 * a chat.completion JSON, or SSE chunks translated line by line as the NDJSON arrives.
 */
import type { UpstreamConfig } from "../config/schema.ts";
import { NDJSON_CONTENT_TYPE } from "../protocol/ndjson.ts";
import type { OllamaChatResponse, OllamaEmbedResponse, OllamaShowResponse } from "../protocol/ollama.ts";
import { ollamaChatRequestFrom, type CanonicalRequest } from "../protocol/ollama-request.ts";
import { completionFromOllama } from "../protocol/ollama-response.ts";
import { errorMessageOf, OpenAIChunkEncoder, sseFromNDJSON } from "../protocol/ollama-stream.ts";
import { ProxyError } from "../server/errors.ts";
import type { Backend, CallOptions, UpstreamModel } from "./backend.ts";
import { sendUpstream, type UpstreamReply } from "./http.ts";
import { floatsToBase64 } from "./openai.ts";
import { transformParams } from "./params.ts";

const JSON_HEADERS = { "content-type": "application/json", accept: `application/json, ${NDJSON_CONTENT_TYPE}` };

/** A short unique id for replies and tool calls. */
const newId = () => crypto.randomUUID().replaceAll("-", "").slice(0, 24);

/** An Ollama error reply (`{"error":"..."}` or anything else) as an OpenAI error body with the same status. */
async function openAIError(response: Response): Promise<Response> {
  const text = await response.text();
  let message: string | undefined;
  try {
    message = errorMessageOf(JSON.parse(text));
  } catch {
    // not JSON: the text itself is the message
  }
  message ??= text.trim().slice(0, 2000) || `Ollama upstream answered HTTP ${response.status}`;
  const type = response.status >= 500 ? "upstream_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param: null, code: null } }, { status: response.status });
}

/** Reads a JSON reply. @throws ProxyError 502 when it is not JSON */
async function readJson<T>(response: Response, what: string): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProxyError(502, `Ollama upstream answered ${what} with a body that is not JSON: ${text.slice(0, 200)}`, "upstream_error");
  }
}

export class OllamaBackend implements Backend {
  constructor(readonly upstream: UpstreamConfig) {}

  /** Short, unretried GETs/POSTs for metadata (model list, show). */
  private get metadataUpstream(): UpstreamConfig {
    return { ...this.upstream, max_retries: 0, timeout_ms: Math.min(this.upstream.timeout_ms, 3000) };
  }

  /**
   * @throws ProxyError 400 for requests Ollama cannot take (tool-call arguments that are not a JSON
   *   object, images by http URL); the transport's ProxyErrors (unreachable, timeout)
   */
  async chat(request: CanonicalRequest, call: CallOptions): Promise<UpstreamReply> {
    const body = JSON.stringify(transformParams(ollamaChatRequestFrom(request), this.upstream));
    const reply = await sendUpstream(this.upstream, { ...call, path: "/api/chat", headers: JSON_HEADERS, body });
    const { response } = reply;
    if (!response.ok) return { ...reply, response: await openAIError(response) };
    const id = newId();
    if (request.stream === true && response.body) {
      const encoder = new OpenAIChunkEncoder(request.model, id, request.stream_options?.include_usage === true);
      const sse = sseFromNDJSON(response.body, encoder);
      return { ...reply, response: new Response(sse, { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } }) };
    }
    const json = await readJson<OllamaChatResponse>(response, "/api/chat");
    const error = errorMessageOf(json);
    if (error !== undefined) return { ...reply, response: Response.json({ error: { message: error, type: "upstream_error", param: null, code: null } }, { status: 502 }) };
    return { ...reply, response: Response.json(completionFromOllama(json, request.model, id)) };
  }

  /**
   * OpenAI embeddings body (plus `truncate`, `keep_alive`, `options` from the Ollama front) ->
   * /api/embed -> OpenAI embeddings JSON (base64 when asked for).
   * @throws ProxyError 400 for token-array inputs, which Ollama does not take
   */
  async embeddings(body: Record<string, unknown>, call: CallOptions): Promise<UpstreamReply> {
    const input = body.input;
    const texts = typeof input === "string" ? input : Array.isArray(input) && input.every((i) => typeof i === "string") ? (input as string[]) : undefined;
    if (texts === undefined) throw new ProxyError(400, "Ollama upstreams take embeddings input as a string or an array of strings", "invalid_request_error", "invalid_value", "input");
    const sent: Record<string, unknown> = { model: body.model, input: texts };
    // dimensions from OpenAI clients; truncate, keep_alive and options from the Ollama front.
    for (const key of ["dimensions", "truncate", "keep_alive", "options"]) if (body[key] !== undefined) sent[key] = body[key];
    const reply = await sendUpstream(this.upstream, { ...call, path: "/api/embed", headers: JSON_HEADERS, body: JSON.stringify(sent) });
    if (!reply.response.ok) return { ...reply, response: await openAIError(reply.response) };
    const json = await readJson<OllamaEmbedResponse>(reply.response, "/api/embed");
    const base64 = body.encoding_format === "base64";
    const data = (json.embeddings ?? []).map((embedding, index) => ({ object: "embedding", index, embedding: base64 ? floatsToBase64(embedding) : embedding }));
    const tokens = json.prompt_eval_count ?? 0;
    return { ...reply, response: Response.json({ object: "list", data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }) };
  }

  /** The models in the server's /api/tags (id: `model`, else `name`). @throws on any failure */
  async listModels(call: CallOptions): Promise<UpstreamModel[]> {
    const { response } = await sendUpstream(this.metadataUpstream, { ...call, path: "/api/tags", method: "GET" });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`GET /api/tags answered HTTP ${response.status}`);
    }
    const json = (await response.json()) as { models?: unknown };
    if (!Array.isArray(json.models)) throw new Error("GET /api/tags answered without a models array");
    const out: UpstreamModel[] = [];
    for (const entry of json.models as Record<string, unknown>[]) {
      const id = entry?.model ?? entry?.name;
      if (typeof id === "string") out.push({ id, entry });
    }
    return out;
  }

  /** The server's own /api/show for `model` (real context length and capabilities). @throws on any failure */
  async show(model: string, call: CallOptions = {}): Promise<OllamaShowResponse> {
    const { response } = await sendUpstream(this.metadataUpstream, { ...call, path: "/api/show", headers: JSON_HEADERS, body: JSON.stringify({ model }) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`POST /api/show answered HTTP ${response.status}`);
    }
    return (await response.json()) as OllamaShowResponse;
  }
}
