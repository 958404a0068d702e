/**
 * OpenAI Chat Completions wire types: the proxy's canonical form (request, response, stream chunk).
 * Follows the OpenAI API reference (https://platform.openai.com/docs/api-reference/chat); only the
 * fields the proxy reads are typed, the rest travel through untouched.
 */

export interface FunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Tool {
  type: "function";
  function: FunctionDefinition;
}

export interface ToolCall {
  id: string;
  type: "function";
  /** `arguments` is a JSON-encoded string. */
  function: { name: string; arguments: string };
}

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail?: string } }
  | { type: string; [key: string]: unknown };

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool" | string;
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  /** Non-standard, sent by many OpenAI-compatible servers for reasoning models. */
  reasoning_content?: string;
  [key: string]: unknown;
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: Tool[];
  tool_choice?: ToolChoice;
  max_tokens?: number;
  max_completion_tokens?: number;
  [key: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: unknown;
}

/**
 * llama.cpp's per-request server timings (tools/server/README.md), on a non-streamed reply and on the
 * stream's finish (and usage) chunk: prompt tokens processed and generated, and the ms each took.
 */
export interface Timings {
  /** Prompt tokens reused from the KV cache. */
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
  [key: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: { index: number; message: ChatMessage; finish_reason: string | null }[];
  usage?: Usage;
  timings?: Timings;
}

/** One streamed chunk; tool-call argument fragments are keyed by `index`. */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: Partial<Omit<ChatMessage, "tool_calls">> & {
      tool_calls?: { index: number; id?: string; type?: "function"; function?: { name?: string; arguments?: string } }[];
      reasoning?: string;
    };
    finish_reason: string | null;
  }[];
  usage?: Usage | null;
  timings?: Timings;
}

/** The error body of the OpenAI API. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface ModelEntry {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** Not in OpenAI's schema: augmented models describe themselves. */
  description?: string;
}
