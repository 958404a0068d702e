/**
 * What the pipeline needs from an LLM server, whatever protocol it speaks. Requests and replies are
 * in the canonical form (OpenAI Chat Completions); a backend for another protocol translates both ways.
 */
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import type { UpstreamReply, UpstreamRequest } from "./http.ts";

/**
 * A model as an upstream lists it: its id and the upstream's own entry, as sent (an OpenAI-style
 * `/v1/models` entry with whatever else the server adds, e.g. llama.cpp's `meta`, `aliases`, `tags`;
 * or an Ollama `/api/tags` entry). Empty for models named in the config.
 */
export interface UpstreamModel {
  id: string;
  entry: Record<string, unknown>;
}

/** Per-call options: the client's credentials, its disconnect signal and a retry observer. */
export type CallOptions = Pick<UpstreamRequest, "clientAuthorization" | "signal" | "onRetry"> & {
  /**
   * The client's parsed body the chat request was made from (protocol/raw-json.ts): members the
   * pipeline did not replace are forwarded as the client's own text, not serialised again.
   */
  clientBody?: object;
};

export interface Backend {
  /**
   * Sends a chat completion request. The reply's body is an OpenAI chat.completion JSON, or an SSE
   * stream of chat.completion.chunk events ending with `data: [DONE]` when `request.stream` is true.
   * Error statuses carry the upstream's own error body. A reply with `idle` set has its body unguarded:
   * its reads must be timed with it (the pipeline's tap does).
   */
  chat(request: ChatCompletionRequest, call: CallOptions): Promise<UpstreamReply>;
  /** Sends an OpenAI embeddings request; the reply is OpenAI's embeddings JSON. */
  embeddings(body: Record<string, unknown>, call: CallOptions): Promise<UpstreamReply>;
  /** The models the server reports, in its order. @throws on any failure */
  listModels(call: CallOptions): Promise<UpstreamModel[]>;
}
