/**
 * Backend for OpenAI-compatible servers (OpenAI, llama.cpp, vLLM, OpenRouter, Venice, ...):
 * the canonical request is sent as is, after the upstream's parameter transforms.
 */
import type { UpstreamConfig } from "../config/schema.ts";
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import { serializeLike } from "../protocol/raw-json.ts";
import type { Backend, CallOptions, UpstreamModel } from "./backend.ts";
import { sendUpstream } from "./http.ts";
import { transformParams } from "./params.ts";
import { honourNamedToolChoice, type FactsLookup } from "./tool-choice.ts";

const JSON_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/** Float32 little-endian bytes of `values`, base64-encoded, as OpenAI returns `encoding_format: "base64"`. */
export function floatsToBase64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}

export class OpenAIBackend implements Backend {
  /** @param facts what the upstream reports about a model (for the named tool_choice fix) */
  constructor(
    readonly upstream: UpstreamConfig,
    private readonly facts?: FactsLookup,
  ) {}

  async chat(request: ChatCompletionRequest, call: CallOptions) {
    const sent = transformParams(await honourNamedToolChoice(request, this.upstream, this.facts, call), this.upstream);
    // The client's own JSON text, with only the members a stage replaced serialised (see protocol/raw-json.ts).
    const { clientBody, ...options } = call;
    const body = serializeLike(sent, clientBody ?? request) ?? JSON.stringify(sent);
    // The reply is passed on as it is: the pipeline's tap times its reads (reply.idle).
    return sendUpstream(this.upstream, { ...options, path: "/chat/completions", headers: JSON_HEADERS, body, unguardedBody: true });
  }

  async embeddings(body: Record<string, unknown>, call: CallOptions) {
    const convert = this.upstream.embeddings_base64 === "convert" && body.encoding_format === "base64";
    const sent = convert ? { ...body, encoding_format: "float" } : body;
    const reply = await sendUpstream(this.upstream, {
      ...call,
      path: "/embeddings",
      headers: JSON_HEADERS,
      body: JSON.stringify(transformParams(sent, this.upstream)),
    });
    if (!convert || !reply.response.ok) return reply;
    const json = (await reply.response.json()) as { data?: { embedding: unknown }[] };
    for (const item of json.data ?? []) {
      if (Array.isArray(item.embedding)) item.embedding = floatsToBase64(item.embedding as number[]);
    }
    return { ...reply, response: Response.json(json, { status: reply.response.status }) };
  }

  async listModels(call: CallOptions): Promise<UpstreamModel[]> {
    const { response } = await sendUpstream(
      { ...this.upstream, max_retries: 0, timeout_ms: Math.min(this.upstream.timeout_ms, 3000) },
      { ...call, path: "/models", method: "GET" },
    );
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`GET /models answered HTTP ${response.status}`);
    }
    const json = (await response.json()) as { data?: unknown };
    if (!Array.isArray(json.data)) throw new Error("GET /models answered without a data array");
    return json.data.filter((m): m is Record<string, unknown> & { id: string } => typeof m?.id === "string").map((entry) => ({ id: entry.id, entry }));
  }
}
