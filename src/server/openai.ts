/**
 * The OpenAI-compatible front (OpenAI API reference): chat completions, models, embeddings, and a
 * transparent pass-through of every other `/v1/*` path to the primary upstream. Mounted at `/v1`
 * and again at `server.path_prefix` (PROXY_PATH_PREFIX), which stands in for `/v1`: with `/api/v1`,
 * a client whose base URL is `http://proxy/api/v1` reaches `/api/v1/chat/completions`.
 */
import { Elysia, t } from "elysia";
import { callOptions, runChat } from "../pipeline/index.ts";
import { resolveModel } from "../pipeline/resolve.ts";
import { tapReply } from "../pipeline/tap.ts";
import type { ChatCompletionRequest, ModelEntry } from "../protocol/openai.ts";
import type { Runtime } from "../runtime.ts";
import type { UpstreamState } from "../upstream/registry.ts";
import { answer, startExchange } from "./context.ts";
import { errorResponse, ProxyError } from "./errors.ts";
import { jsonRoute } from "./json-body.ts";
import { forwardRequest } from "./passthrough.ts";

const ChatBody = t.Object(
  {
    model: t.Optional(t.String()),
    messages: t.Array(t.Object({ role: t.String() }, { additionalProperties: true }), { minItems: 1 }),
    stream: t.Optional(t.Boolean()),
    tools: t.Optional(
      t.Array(
        t.Object(
          { type: t.String(), function: t.Object({ name: t.String() }, { additionalProperties: true }) },
          { additionalProperties: true },
        ),
      ),
    ),
  },
  { additionalProperties: true },
);

const EmbeddingsBody = t.Object(
  {
    model: t.Optional(t.String()),
    input: t.Union([t.String(), t.Array(t.String()), t.Array(t.Number()), t.Array(t.Array(t.Number()))]),
    encoding_format: t.Optional(t.Union([t.Literal("float"), t.Literal("base64")])),
  },
  { additionalProperties: true },
);

/** decodeURIComponent that keeps a malformed escape (e.g. "%E0%A4%A") as written: it then names no model (404) instead of throwing (500). */
function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A served model: its id, the upstream serving it and that upstream's own entry for it. */
export interface ServedModel {
  id: string;
  /** None for augmented models and aliases: their upstream is resolved per request. */
  upstream?: UpstreamState;
  /** The upstream's own entry for the model, as it listed it (empty for models it does not list). */
  entry: Record<string, unknown>;
  /** An augmented model's `owned_by` and `description`. */
  owned_by?: string;
  description?: string;
}

/** Every served model: augmented models first, then each upstream's (first upstream wins a duplicate id), then the aliases. */
export async function servedModels(runtime: Runtime): Promise<ServedModel[]> {
  const { config, upstreams, models } = runtime.state;
  const seen = new Map<string, ServedModel>();
  for (const model of models.all) seen.set(model.name, { id: model.name, entry: {}, owned_by: model.config.owned_by, description: model.config.description || undefined });
  for (const { upstream, models: listed } of await upstreams.allModelEntries()) {
    for (const { id, entry } of listed ?? []) if (!seen.has(id)) seen.set(id, { id, upstream, entry });
  }
  for (const alias of Object.keys(config.models.aliases)) if (!seen.has(alias)) seen.set(alias, { id: alias, entry: {} });
  return [...seen.values()];
}

/**
 * Lists every served model as OpenAI model objects. An OpenAI-style upstream's entry keeps its own
 * fields (llama.cpp's `meta`, `aliases`, `tags`, vLLM's `max_model_len`, ...); `owned_by` names the
 * upstream that serves it (an augmented model's own `owned_by`, `llm-proxy` for aliases).
 */
export async function listModels(runtime: Runtime): Promise<ModelEntry[]> {
  const created = Math.floor(runtime.startedAt / 1000);
  return (await servedModels(runtime)).map((m) => {
    const own = m.upstream?.config.type === "openai" ? m.entry : {};
    const out: ModelEntry = { ...own, id: m.id, object: "model", created: typeof own.created === "number" ? own.created : created, owned_by: m.upstream?.name ?? m.owned_by ?? "llm-proxy" };
    if (m.description) out.description = m.description;
    return out;
  });
}

/** The OpenAI routes, mounted at `/v1`, or at `prefix` in its place. Log rows name the `/v1` endpoint either way. */
export function openaiRoutes(runtime: Runtime, prefix = "") {
  return new Elysia({ name: `openai:${prefix}`, prefix: prefix || "/v1" })
    .post(
      "/chat/completions",
      ({ body, request }) => {
        const exchange = startExchange(runtime, request, "/v1/chat/completions");
        return answer(exchange, "openai", () => runChat(runtime.state, exchange, body as ChatCompletionRequest));
      },
      // The parser keeps the body's text so that an unchanged request is forwarded without serialising it again.
      jsonRoute(runtime, ChatBody),
    )
    .get("/models", async () => ({ object: "list", data: await listModels(runtime) }))
    .get("/models/*", async ({ params }) => {
      const id = decodePath(params["*"]);
      const found = (await listModels(runtime)).find((m) => m.id === id);
      if (found) return found;
      const slash = id.indexOf("/");
      const upstream = slash > 0 ? runtime.state.upstreams.get(id.slice(0, slash)) : undefined;
      const ids = upstream ? await upstream.modelIds() : undefined;
      if (upstream && ids?.includes(id.slice(slash + 1))) {
        return { id, object: "model", created: Math.floor(runtime.startedAt / 1000), owned_by: upstream.name };
      }
      const err = new ProxyError(404, `The model '${id}' does not exist`, "invalid_request_error", "model_not_found", "model");
      return errorResponse(err, "openai");
    })
    .post(
      "/embeddings",
      ({ body, request }) => {
        const exchange = startExchange(runtime, request, "/v1/embeddings");
        return answer(exchange, "openai", async () => {
          const { config, upstreams } = runtime.state;
          const target = await resolveModel(config, upstreams, body.model, callOptions(exchange));
          Object.assign(exchange.row, { client_model: body.model ?? null, upstream: target.upstream.name, upstream_model: target.model });
          const reply = await target.upstream.backend.embeddings({ ...body, model: target.model }, callOptions(exchange));
          return tapReply(reply.response, exchange, { sse: false, captureBody: false });
        });
      },
      jsonRoute(runtime, EmbeddingsBody),
    )
    .all(
      "/*",
      ({ request, params }) => {
        const upstream = runtime.state.upstreams.primary;
        return forwardRequest(runtime, request, `/v1/${params["*"]}`, upstream, upstream.config, `/${params["*"]}`);
      },
      { parse: "none" },
    );
}
