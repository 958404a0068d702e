/**
 * The Ollama-compatible front (Ollama docs/api.md): /api/chat, /api/generate, /api/tags, /api/show,
 * /api/version, /api/ps, /api/embed, /api/embeddings, /api/pull, and `GET /` / `HEAD /`
 * ("Ollama is running"). Chat and generate requests are translated to the canonical OpenAI request,
 * run through the same pipeline as OpenAI requests (runChat: model resolution, stages, retries,
 * request log), and the OpenAI reply is translated back: JSON, or NDJSON written per upstream chunk.
 * Errors are `{"error": "..."}` with the upstream's or our status.
 */
import { Elysia, t } from "elysia";
import { callOptions, runChat } from "../pipeline/index.ts";
import type { Exchange } from "../pipeline/exchange.ts";
import { resolveTarget, type Target } from "../pipeline/resolve.ts";
import { tapReply } from "../pipeline/tap.ts";
import { encodeNDJSON, NDJSON_CONTENT_TYPE } from "../protocol/ndjson.ts";
import type { OllamaChatRequest, OllamaEmbedResponse, OllamaGenerateRequest, OllamaModelEntry } from "../protocol/ollama.ts";
import { modelEntry, showResponse } from "../protocol/ollama-models.ts";
import { chatRequestFromOllama, generateRequestFromOllama, type CanonicalRequest } from "../protocol/ollama-request.ts";
import { ollamaChatFromCompletion, ollamaGenerateFromCompletion } from "../protocol/ollama-response.ts";
import { errorMessageOf, ndjsonFromSSE, OllamaStreamEncoder, type OllamaReplyKind } from "../protocol/ollama-stream.ts";
import type { ChatCompletion } from "../protocol/openai.ts";
import type { Runtime } from "../runtime.ts";
import { factsFromModelEntry, getModelFacts } from "../upstream/model-facts.ts";
import { OllamaBackend } from "../upstream/ollama.ts";
import { answer, startExchange } from "./context.ts";
import { errorResponse, ProxyError } from "./errors.ts";
import { jsonRoute } from "./json-body.ts";
import { servedModels, type ServedModel } from "./openai.ts";

/** The Ollama API version reported by /api/version: the API level this front implements. */
export const OLLAMA_API_VERSION = "0.12.0";

const Nullable = <T extends Parameters<typeof t.Optional>[0]>(schema: T) => t.Optional(t.Union([schema, t.Null()]));

const Options = t.Object(
  {
    num_ctx: Nullable(t.Integer()),
    num_predict: Nullable(t.Integer()),
    temperature: Nullable(t.Number()),
    top_p: Nullable(t.Number()),
    top_k: Nullable(t.Integer()),
    min_p: Nullable(t.Number()),
    seed: Nullable(t.Integer()),
    stop: Nullable(t.Union([t.String(), t.Array(t.String())])),
    repeat_penalty: Nullable(t.Number()),
    presence_penalty: Nullable(t.Number()),
    frequency_penalty: Nullable(t.Number()),
  },
  { additionalProperties: true },
);

const ToolCall = t.Object(
  {
    id: t.Optional(t.String()),
    function: t.Object({ name: t.String(), arguments: t.Optional(t.Union([t.Record(t.String(), t.Unknown()), t.String(), t.Null()])) }, { additionalProperties: true }),
  },
  { additionalProperties: true },
);

const Message = t.Object(
  {
    role: t.String(),
    content: Nullable(t.String()),
    thinking: Nullable(t.String()),
    images: Nullable(t.Array(t.String())),
    tool_calls: t.Optional(t.Array(ToolCall)),
    tool_name: t.Optional(t.String()),
  },
  { additionalProperties: true },
);

const Think = Nullable(t.Union([t.Boolean(), t.Literal("low"), t.Literal("medium"), t.Literal("high")]));
const Format = Nullable(t.Union([t.String(), t.Record(t.String(), t.Unknown())]));
const KeepAlive = Nullable(t.Union([t.String(), t.Number()]));

/** Fields /api/chat and /api/generate share. */
const COMMON_FIELDS = {
  model: t.Optional(t.String()),
  stream: t.Optional(t.Boolean()),
  format: Format,
  options: t.Optional(Options),
  keep_alive: KeepAlive,
  think: Think,
};

const ChatBody = t.Object(
  {
    ...COMMON_FIELDS,
    messages: t.Optional(t.Array(Message)),
    tools: Nullable(t.Array(t.Object({ type: t.String(), function: t.Object({ name: t.String() }, { additionalProperties: true }) }, { additionalProperties: true }))),
  },
  { additionalProperties: true },
);

const GenerateBody = t.Object(
  {
    ...COMMON_FIELDS,
    prompt: Nullable(t.String()),
    system: Nullable(t.String()),
    images: Nullable(t.Array(t.String())),
  },
  { additionalProperties: true },
);

const ModelBody = t.Object({ model: t.Optional(t.String()), name: t.Optional(t.String()), stream: Nullable(t.Boolean()) }, { additionalProperties: true });

const EmbedBody = t.Object(
  { model: t.Optional(t.String()), input: t.Union([t.String(), t.Array(t.String())]), dimensions: t.Optional(t.Integer({ minimum: 1 })), keep_alive: KeepAlive },
  { additionalProperties: true },
);

const EmbeddingsBody = t.Object({ model: t.Optional(t.String()), prompt: t.Optional(t.String()), keep_alive: KeepAlive }, { additionalProperties: true });

/** An upstream error reply (any shape) as an Ollama error with the same status (and Retry-After). */
async function upstreamError(response: Response, exchange: Exchange): Promise<Response> {
  const text = await response.text();
  let message: string | undefined;
  try {
    message = errorMessageOf(JSON.parse(text));
  } catch {
    // not JSON: the text itself is the message
  }
  message ??= text.trim().slice(0, 2000) || `upstream answered HTTP ${response.status}`;
  const retryAfter = response.headers.get("retry-after");
  const headers = retryAfter ? { ...exchange.responseHeaders, "retry-after": retryAfter } : exchange.responseHeaders;
  return errorResponse(new ProxyError(response.status, message), "ollama", headers);
}

/**
 * The OpenAI reply of runChat as Ollama's: NDJSON translated chunk by chunk when streamed, else one
 * JSON object. An upstream error status keeps its status with an Ollama error body.
 */
async function ollamaReply(response: Response, kind: OllamaReplyKind, model: string, stream: boolean, exchange: Exchange): Promise<Response> {
  if (response.status >= 400) return upstreamError(response, exchange);
  const sse = (response.headers.get("content-type") ?? "").includes("text/event-stream");
  if (sse && response.body) {
    // A failure written into the stream is what the client got: the row says so (unless it already names one).
    const onError = (message: string) => {
      if ((exchange.row.status ?? 200) < 400) Object.assign(exchange.row, { status: 502, error: message });
    };
    const body = ndjsonFromSSE(response.body, new OllamaStreamEncoder(kind, model, exchange.started), onError);
    return new Response(body, { status: 200, headers: { ...exchange.responseHeaders, "content-type": NDJSON_CONTENT_TYPE } });
  }
  const text = await response.text();
  let completion: ChatCompletion;
  try {
    completion = JSON.parse(text) as ChatCompletion;
  } catch {
    throw new ProxyError(502, `upstream answered with a body that is not JSON: ${text.slice(0, 200)}`, "upstream_error");
  }
  // A whole reply: no first-token time to split the wait by (doneStats uses the upstream's timings, if any).
  const timing = { startedMs: exchange.started, endMs: performance.now() };
  const reply = kind === "chat" ? ollamaChatFromCompletion(completion, model, timing) : ollamaGenerateFromCompletion(completion, model, timing);
  // A streaming client that got a JSON answer still gets NDJSON: one final line.
  if (stream) return new Response(encodeNDJSON(reply), { headers: { ...exchange.responseHeaders, "content-type": NDJSON_CONTENT_TYPE } });
  return Response.json(reply, { headers: exchange.responseHeaders });
}

/**
 * Nothing to generate (no messages / empty prompt): Ollama loads (or, with keep_alive 0, unloads)
 * the model and answers at once. The model has been checked to be served; we answer the same way.
 */
function loadReply(exchange: Exchange, kind: OllamaReplyKind, model: string, target: Target, keepAlive: unknown): Response {
  Object.assign(exchange.row, { upstream: target.upstream.name, upstream_model: target.model });
  exchange.finish({ status: 200 });
  const unload = keepAlive === 0 || keepAlive === "0" || keepAlive === "0s";
  const base = { model, created_at: new Date().toISOString(), done: true, done_reason: unload ? "unload" : "load" };
  const reply = kind === "chat" ? { ...base, message: { role: "assistant", content: "" } } : { ...base, response: "" };
  return Response.json(reply, { headers: exchange.responseHeaders });
}

/**
 * Runs one /api/chat or /api/generate request through the pipeline. The model is resolved first
 * (cached model lists, so cheap) to know whether the upstream speaks Ollama natively: only then
 * does the canonical request carry the Ollama-only fields.
 */
function generate(runtime: Runtime, request: Request, kind: OllamaReplyKind, body: OllamaChatRequest | OllamaGenerateRequest): Promise<Response> {
  const exchange = startExchange(runtime, request, kind === "chat" ? "/api/chat" : "/api/generate");
  return answer(exchange, "ollama", async () => {
    const state = runtime.state;
    const model = body.model || state.config.models.default_model;
    exchange.row.client_model = model || null;
    const target = await resolveTarget(state, body.model, callOptions(exchange));
    const empty = kind === "chat" ? !(body as OllamaChatRequest).messages?.length : !(body as OllamaGenerateRequest).prompt;
    if (empty) return loadReply(exchange, kind, model, target, body.keep_alive);
    const native = target.upstream.config.type === "ollama";
    const canonical: CanonicalRequest =
      kind === "chat" ? chatRequestFromOllama(body as OllamaChatRequest, native) : generateRequestFromOllama(body as OllamaGenerateRequest, native);
    // The reply is translated after the tap has read it: a failure to translate is what the client gets.
    exchange.hold();
    const reply = await runChat(state, exchange, canonical);
    return ollamaReply(reply, kind, model, canonical.stream === true, exchange);
  });
}

/** Resolves `name` for a model route. @throws ProxyError 404 in Ollama's words when it is not served */
async function servedTarget(runtime: Runtime, name: string | undefined, exchange?: Exchange): Promise<Target> {
  try {
    return await resolveTarget(runtime.state, name, exchange ? callOptions(exchange) : {});
  } catch (err) {
    if (err instanceof ProxyError && err.status === 404) throw new ProxyError(404, `model '${name}' not found`, "invalid_request_error", "model_not_found", "model");
    throw err;
  }
}

/** Fields of an embed request that only an Ollama upstream understands. */
const NATIVE_EMBED_FIELDS = ["truncate", "keep_alive", "options"] as const;

/**
 * Sends an embeddings request for `input` to the model's upstream (logged like every exchange).
 * `dimensions`, and for Ollama upstreams `truncate`, `keep_alive` and `options`, are taken from `request`.
 * @returns the vectors in input order and the prompt token count
 */
async function embed(runtime: Runtime, exchange: Exchange, name: string | undefined, input: string | string[], request: Record<string, unknown>) {
  const target = await servedTarget(runtime, name, exchange);
  Object.assign(exchange.row, { client_model: name ?? null, upstream: target.upstream.name, upstream_model: target.model });
  const body: Record<string, unknown> = { model: target.model, input };
  if (request.dimensions !== undefined) body.dimensions = request.dimensions;
  if (target.upstream.config.type === "ollama") for (const key of NATIVE_EMBED_FIELDS) if (request[key] !== undefined) body[key] = request[key];
  // The reply is decoded after the tap has read it: a reply without vectors is what the client gets (502).
  exchange.hold();
  const reply = await target.upstream.backend.embeddings(body, callOptions(exchange));
  const response = await tapReply(reply.response, exchange, { sse: false, captureBody: false });
  if (response.status >= 400) return { error: await upstreamError(response, exchange) };
  const json = (await response.json().catch(() => undefined)) as { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } } | undefined;
  if (!Array.isArray(json?.data)) throw new ProxyError(502, "upstream answered embeddings without a data array", "upstream_error");
  const data = [...json.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  if (data.some((d) => !Array.isArray(d.embedding))) throw new ProxyError(502, "upstream answered embeddings that are not float arrays", "upstream_error");
  return { embeddings: data.map((d) => d.embedding as number[]), promptTokens: json.usage?.prompt_tokens ?? 0 };
}

/**
 * The /api/tags entry of a served model: an Ollama upstream's own entry (its size, digest and details)
 * under the served name; otherwise built from the facts in the upstream's model-list entry (llama.cpp
 * `meta`), which costs no extra request.
 */
function tagsEntry(model: ServedModel, modifiedAt: string): OllamaModelEntry {
  if (model.upstream?.config.type === "ollama" && typeof model.entry.digest === "string") {
    return { ...(model.entry as unknown as OllamaModelEntry), name: model.id, model: model.id };
  }
  const facts = model.upstream?.config.type === "openai" ? factsFromModelEntry(model.entry) : {};
  return modelEntry(model.id, modifiedAt, facts);
}

/** The Ollama routes, mounted at the root. */
export function ollamaRoutes(runtime: Runtime) {
  const modifiedAt = () => new Date(runtime.startedAt).toISOString();
  const served = async () => (await servedModels(runtime)).map((m) => tagsEntry(m, modifiedAt()));
  const running = "Ollama is running";

  return new Elysia({ name: "ollama" })
    .get("/", () => new Response(running, { headers: { "content-type": "text/plain; charset=utf-8" } }))
    .head("/", () => new Response(null, { headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(running.length) } }))
    .get("/api/version", () => ({ version: OLLAMA_API_VERSION }))
    .get("/api/tags", async () => ({ models: await served() }))
    .get("/api/ps", async () => {
      // The proxy cannot see what its upstreams keep loaded: every served model is ready to answer.
      const expires_at = new Date(Date.now() + 24 * 3600_000).toISOString();
      return { models: (await served()).map((m) => ({ ...m, expires_at, size_vram: 0 })) };
    })
    .post(
      "/api/show",
      async ({ body }) => {
        const name = body.model ?? body.name;
        try {
          const target = await servedTarget(runtime, name);
          // An Ollama upstream answers for itself; for others, what the upstream reports (nothing invented).
          const native = !target.augmented && target.upstream.backend instanceof OllamaBackend ? await target.upstream.backend.show(target.model).catch(() => undefined) : undefined;
          if (native) return native;
          const facts = await getModelFacts(target.upstream, target.model);
          // An augmented model is ours: the facts of the model it runs on, with the tools capability.
          if (target.augmented) return showResponse(target.augmented.name, modifiedAt(), { ...facts, capabilities: [...new Set([...(facts.capabilities ?? ["completion"]), "tools"])] });
          return showResponse(name ?? target.model, modifiedAt(), facts);
        } catch (err) {
          if (err instanceof ProxyError) return errorResponse(err, "ollama");
          throw err;
        }
      },
      jsonRoute(runtime, ModelBody),
    )
    .post(
      "/api/pull",
      async ({ body }) => {
        const name = body.model ?? body.name;
        try {
          await servedTarget(runtime, name);
        } catch (err) {
          if (!(err instanceof ProxyError)) throw err;
          const message = err.status === 404 ? `pull model manifest: model '${name}' is not served by this proxy, and llm-proxy does not download models (add it to an upstream or to models.aliases)` : err.message;
          return errorResponse(new ProxyError(err.status, message), "ollama");
        }
        if (body.stream === false) return { status: "success" };
        const lines = ["pulling manifest", "verifying sha256 digest", "writing manifest", "success"].map((status) => JSON.stringify({ status })).join("\n");
        return new Response(`${lines}\n`, { headers: { "content-type": NDJSON_CONTENT_TYPE } });
      },
      jsonRoute(runtime, ModelBody),
    )
    .post("/api/chat", ({ body, request }) => generate(runtime, request, "chat", body as OllamaChatRequest), jsonRoute(runtime, ChatBody))
    .post("/api/generate", ({ body, request }) => generate(runtime, request, "generate", body as OllamaGenerateRequest), jsonRoute(runtime, GenerateBody))
    .post(
      "/api/embed",
      ({ body, request }) => {
        const exchange = startExchange(runtime, request, "/api/embed");
        return answer(exchange, "ollama", async () => {
          const result = await embed(runtime, exchange, body.model, body.input, body);
          if ("error" in result) return result.error!;
          const reply: OllamaEmbedResponse = {
            model: body.model ?? runtime.state.config.models.default_model,
            embeddings: result.embeddings,
            total_duration: Math.round(exchange.elapsedMs() * 1e6),
            load_duration: 0,
            prompt_eval_count: result.promptTokens,
          };
          return Response.json(reply, { headers: exchange.responseHeaders });
        });
      },
      jsonRoute(runtime, EmbedBody),
    )
    .post(
      "/api/embeddings",
      ({ body, request }) => {
        const exchange = startExchange(runtime, request, "/api/embeddings");
        return answer(exchange, "ollama", async () => {
          if (!body.prompt) {
            await servedTarget(runtime, body.model, exchange);
            exchange.finish({ status: 200 });
            return Response.json({ embedding: [] }, { headers: exchange.responseHeaders });
          }
          const result = await embed(runtime, exchange, body.model, body.prompt, body);
          if ("error" in result) return result.error!;
          return Response.json({ embedding: result.embeddings[0] ?? [] }, { headers: exchange.responseHeaders });
        });
      },
      jsonRoute(runtime, EmbeddingsBody),
    );
}
