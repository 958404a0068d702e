/**
 * Ollama API wire types (Ollama docs/api.md: /api/chat, /api/generate, /api/tags, /api/show,
 * /api/ps, /api/embed, /api/embeddings, /api/pull). Only the fields the proxy reads or writes are
 * typed. Durations are nanoseconds; `created_at` and `modified_at` are RFC 3339 strings.
 */

/** Model parameters (Ollama docs/modelfile.md "Valid parameters and values"). */
export interface OllamaOptions {
  num_ctx?: number;
  num_predict?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  seed?: number;
  stop?: string | string[];
  repeat_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  [key: string]: unknown;
}

/** A tool call: `arguments` is a JSON object (OpenAI: a JSON-encoded string). Ollama sends no id. */
export interface OllamaToolCall {
  id?: string;
  function: { name: string; arguments: Record<string, unknown>; index?: number };
}

export interface OllamaMessage {
  role: string;
  content?: string;
  thinking?: string;
  /** Base64-encoded images (no data: prefix). */
  images?: string[];
  tool_calls?: OllamaToolCall[];
  /** On tool results: the name of the tool that produced it (newer Ollama versions). */
  tool_name?: string;
  [key: string]: unknown;
}

/** `think`: on/off, or a reasoning level for models that take one. */
export type OllamaThink = boolean | "low" | "medium" | "high";

/** `format`: "json" or a JSON Schema object. */
export type OllamaFormat = string | Record<string, unknown>;

export interface OllamaChatRequest {
  model?: string;
  messages?: OllamaMessage[];
  tools?: { type: string; function: { name: string; [key: string]: unknown } }[];
  /** Ollama streams unless this is `false`. */
  stream?: boolean;
  format?: OllamaFormat;
  options?: OllamaOptions;
  keep_alive?: string | number;
  think?: OllamaThink;
  [key: string]: unknown;
}

export interface OllamaGenerateRequest {
  model?: string;
  prompt?: string;
  system?: string;
  images?: string[];
  stream?: boolean;
  format?: OllamaFormat;
  options?: OllamaOptions;
  keep_alive?: string | number;
  think?: OllamaThink;
  /** No OpenAI equivalent: accepted and ignored. */
  suffix?: string;
  raw?: boolean;
  template?: string;
  context?: number[];
  [key: string]: unknown;
}

/** Statistics of the final (`done: true`) object; durations in ns. */
export interface OllamaDoneStats {
  done_reason?: string;
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
}

export interface OllamaChatResponse extends OllamaDoneStats {
  model: string;
  created_at: string;
  message: OllamaMessage;
  done: boolean;
}

export interface OllamaGenerateResponse extends OllamaDoneStats {
  model: string;
  created_at: string;
  response: string;
  thinking?: string;
  done: boolean;
}

export interface OllamaModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

/** One entry of /api/tags (and, with expires_at/size_vram, of /api/ps). */
export interface OllamaModelEntry {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  digest: string;
  details: OllamaModelDetails;
  expires_at?: string;
  size_vram?: number;
}

export interface OllamaShowResponse {
  license: string;
  modelfile: string;
  parameters: string;
  template: string;
  details: OllamaModelDetails;
  model_info: Record<string, unknown>;
  capabilities: string[];
  modified_at: string;
}

export interface OllamaEmbedResponse {
  model: string;
  embeddings: number[][];
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
}

/** The error body of every Ollama endpoint, also as a line of a stream. */
export interface OllamaErrorBody {
  error: string;
}

/**
 * Ollama-only request fields carried on a canonical ChatCompletionRequest under this symbol key when
 * it goes to an Ollama upstream: invisible to JSON (the request log never shows them), kept by
 * object spreads (so pipeline stages that copy the request keep them), read by the Ollama backend.
 */
export const OLLAMA_EXTRAS: unique symbol = Symbol("llm-proxy.ollama-extras");

export interface OllamaExtras {
  /** The client's `options` as sent (num_ctx, num_gpu, mirostat, ...). */
  options?: OllamaOptions;
  keep_alive?: string | number;
  think?: OllamaThink;
  format?: OllamaFormat;
}

/** An assistant message's `thinking`, kept on the canonical message under this symbol key (see OLLAMA_EXTRAS). */
export const OLLAMA_THINKING: unique symbol = Symbol("llm-proxy.ollama-thinking");
