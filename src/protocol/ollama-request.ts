/**
 * Request translation between the Ollama API (docs/api.md: /api/chat, /api/generate) and the
 * canonical OpenAI Chat Completions request, both ways. Pure functions.
 *
 * Ollama -> OpenAI: `images` become image_url parts (data: URLs); tool-call `arguments` objects
 * become JSON strings and get ids; tool results without an id are matched to the preceding
 * assistant's calls in order (or by `tool_name`); `options` map to OpenAI fields (`num_predict` ->
 * max_tokens, `repeat_penalty` -> repetition_penalty, ...); `format` -> response_format;
 * `think` levels -> reasoning_effort. What OpenAI has no field for (num_ctx, keep_alive, boolean
 * think, the other options, assistant `thinking`) rides along under OLLAMA_EXTRAS / OLLAMA_THINKING
 * when the request goes to an Ollama upstream (`native`). Only then: a symbol-keyed property takes
 * JSON.stringify off its fast path (measured 4-5x slower on a Home Assistant sized request). The one
 * exception is `num_ctx`, which rides along for every upstream (~25 µs of JSON.stringify on such a
 * request): it is the context window the compress stage fits the request into.
 */
import { ProxyError } from "../server/errors.ts";
import {
  OLLAMA_EXTRAS,
  OLLAMA_THINKING,
  type OllamaChatRequest,
  type OllamaExtras,
  type OllamaFormat,
  type OllamaGenerateRequest,
  type OllamaMessage,
  type OllamaOptions,
  type OllamaThink,
  type OllamaToolCall,
} from "./ollama.ts";
import type { ChatCompletionRequest, ChatMessage, ContentPart, Tool, ToolCall } from "./openai.ts";

/** A canonical request that may carry Ollama-only fields. */
export type CanonicalRequest = ChatCompletionRequest & { [OLLAMA_EXTRAS]?: OllamaExtras };
/** A canonical message that may carry an assistant's Ollama `thinking`. */
export type CanonicalMessage = ChatMessage & { [OLLAMA_THINKING]?: string };

/** Ollama option -> OpenAI request field, for options whose meaning is the same. */
const SAME_OPTIONS: Record<string, string> = {
  temperature: "temperature",
  top_p: "top_p",
  top_k: "top_k",
  min_p: "min_p",
  seed: "seed",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
  repeat_penalty: "repetition_penalty",
};

/** Leading base64 characters of image formats -> MIME type (the files' magic numbers, base64-encoded). */
const IMAGE_SIGNATURES: [string, string][] = [
  ["iVBORw0KGgo", "image/png"],
  ["/9j/", "image/jpeg"],
  ["R0lGOD", "image/gif"],
  ["UklGR", "image/webp"],
];

/** An Ollama base64 image as an OpenAI image URL (a data: URL; URLs are kept as they are). */
export function imageUrl(image: string): string {
  if (image.startsWith("data:") || image.startsWith("http://") || image.startsWith("https://")) return image;
  const mime = IMAGE_SIGNATURES.find(([prefix]) => image.startsWith(prefix))?.[1] ?? "image/jpeg";
  return `data:${mime};base64,${image}`;
}

function userContent(text: string, images: string[] | undefined): string | ContentPart[] {
  if (!images?.length) return text;
  const parts: ContentPart[] = text ? [{ type: "text", text }] : [];
  for (const image of images) parts.push({ type: "image_url", image_url: { url: imageUrl(image) } });
  return parts;
}

/**
 * Tool-call `arguments` as OpenAI's JSON string: an object is encoded, a string must already be
 * a JSON object, a missing value is `{}`.
 * @throws ProxyError 400 naming `where` when the value is not a JSON object (or a string holding one)
 */
function argumentsString(args: unknown, where: string): string {
  if (args === undefined || args === null) return "{}";
  if (typeof args === "object" && !Array.isArray(args)) return JSON.stringify(args);
  if (typeof args === "string" && parseToolArguments(args)) return args.trim() === "" || args.trim() === "null" ? "{}" : args;
  const shown = typeof args === "string" ? args.slice(0, 200) : args;
  throw new ProxyError(400, `${where} must be a JSON object, got ${JSON.stringify(shown)}`, "invalid_request_error", "invalid_tool_arguments");
}

/**
 * Ollama messages -> OpenAI messages; tool results are matched to the calls they answer.
 * With `native`, an assistant's `thinking` is kept under OLLAMA_THINKING.
 */
function messagesFromOllama(messages: OllamaMessage[], native: boolean): ChatMessage[] {
  const out: ChatMessage[] = new Array(messages.length);
  let pending: { id: string; name: string }[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const content = typeof m.content === "string" ? m.content : "";
    if (m.role === "assistant") {
      const message: CanonicalMessage = { role: "assistant", content };
      if (m.tool_calls?.length) {
        const calls: ToolCall[] = m.tool_calls.map((call: OllamaToolCall, j) => ({
          id: typeof call.id === "string" && call.id ? call.id : `call_${i}_${j}`,
          type: "function",
          function: { name: call.function.name, arguments: argumentsString(call.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) },
        }));
        message.tool_calls = calls;
        if (!content) message.content = null;
        pending = calls.map((c) => ({ id: c.id, name: c.function.name }));
      } else {
        pending = [];
      }
      if (native && m.thinking) message[OLLAMA_THINKING] = m.thinking;
      out[i] = message;
    } else if (m.role === "tool") {
      const named = m.tool_name ?? (typeof m.name === "string" ? m.name : undefined);
      const given = typeof m.tool_call_id === "string" ? m.tool_call_id : undefined;
      let at = given !== undefined ? pending.findIndex((p) => p.id === given) : named !== undefined ? pending.findIndex((p) => p.name === named) : -1;
      if (at < 0 && given === undefined && pending.length > 0) at = 0;
      const id = given ?? (at >= 0 ? pending[at]!.id : undefined);
      if (at >= 0) pending.splice(at, 1);
      out[i] = id === undefined ? { role: "tool", content } : { role: "tool", tool_call_id: id, content };
    } else {
      pending = [];
      out[i] = { role: m.role, content: m.role === "user" ? userContent(content, m.images) : content };
    }
  }
  return out;
}

/** `format` -> OpenAI response_format. @throws ProxyError 400 for a string other than "json" */
function responseFormat(format: OllamaFormat | undefined | null): ChatCompletionRequest["response_format"] {
  if (format === undefined || format === null || format === "") return undefined;
  if (format === "json") return { type: "json_object" };
  if (typeof format === "object" && !Array.isArray(format)) return { type: "json_schema", json_schema: { name: "response", schema: format } };
  throw new ProxyError(400, `invalid format: expected "json" or a JSON Schema object`, "invalid_request_error", "invalid_value", "format");
}

/** Copies the request-level fields shared by /api/chat and /api/generate onto `out` (and, with `native`, the Ollama-only ones). */
function applyCommon(out: ChatCompletionRequest, body: OllamaChatRequest | OllamaGenerateRequest, native: boolean): void {
  const options = body.options;
  if (options) {
    for (const key in options) {
      const field = SAME_OPTIONS[key];
      const value = options[key];
      if (field !== undefined && value !== undefined && value !== null) out[field] = value;
    }
    const n = options.num_predict;
    // num_predict -1 (no limit) and -2 (fill the context) have no OpenAI equivalent: no max_tokens.
    if (typeof n === "number" && n > 0) out.max_tokens = n;
    if (typeof options.stop === "string") out.stop = [options.stop];
    else if (Array.isArray(options.stop)) out.stop = options.stop;
  }
  const format = responseFormat(body.format);
  if (format) out.response_format = format;
  if (typeof body.think === "string") out.reasoning_effort = body.think;
  if (!native) {
    // The client's context window rides along for every upstream: the compress stage fits the request into it.
    const numCtx = options?.num_ctx;
    if (typeof numCtx === "number") (out as CanonicalRequest)[OLLAMA_EXTRAS] = { options: { num_ctx: numCtx } };
    return;
  }
  const extras: OllamaExtras = {};
  if (options) extras.options = options;
  if (body.keep_alive !== undefined) extras.keep_alive = body.keep_alive;
  if (body.think !== undefined && body.think !== null) extras.think = body.think as OllamaThink;
  if (body.format !== undefined && body.format !== null && body.format !== "") extras.format = body.format;
  (out as CanonicalRequest)[OLLAMA_EXTRAS] = extras;
}

/**
 * /api/chat body -> canonical request. Streams unless `stream` is false; streamed requests ask for
 * usage (`stream_options.include_usage`) so the final line can carry token counts.
 * @param native the request goes to an Ollama upstream: keep the Ollama-only fields
 * @throws ProxyError 400 for malformed tool-call arguments or `format`
 */
export function chatRequestFromOllama(body: OllamaChatRequest, native = false): CanonicalRequest {
  const stream = body.stream !== false;
  const out: CanonicalRequest = { model: body.model ?? "", messages: messagesFromOllama(body.messages ?? [], native), stream };
  if (stream) out.stream_options = { include_usage: true };
  if (body.tools?.length) out.tools = body.tools as Tool[];
  applyCommon(out, body, native);
  return out;
}

/**
 * /api/generate body -> canonical request: `system` and `prompt` (with `images`) become a system
 * and a user message. `suffix`, `raw`, `template` and `context` have no OpenAI equivalent and are ignored.
 * @param native the request goes to an Ollama upstream: keep the Ollama-only fields
 * @throws ProxyError 400 for a malformed `format`
 */
export function generateRequestFromOllama(body: OllamaGenerateRequest, native = false): CanonicalRequest {
  const stream = body.stream !== false;
  const messages: ChatMessage[] = [];
  if (body.system) messages.push({ role: "system", content: body.system });
  messages.push({ role: "user", content: userContent(body.prompt ?? "", body.images) });
  const out: CanonicalRequest = { model: body.model ?? "", messages, stream };
  if (stream) out.stream_options = { include_usage: true };
  applyCommon(out, body, native);
  return out;
}

/** OpenAI content (string or parts) -> its text; image parts are returned through `images`. */
function textOf(content: ChatMessage["content"], images?: string[], where = "content"): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (part.type === "text" && typeof part.text === "string") text += text ? `\n${part.text}` : part.text;
    else if (part.type === "image_url" && images) {
      const url = (part as { image_url?: { url?: string } }).image_url?.url ?? "";
      const comma = url.indexOf(",");
      if (!url.startsWith("data:") || comma < 0) {
        throw new ProxyError(400, `${where}: Ollama upstreams take images as base64 data: URLs only`, "invalid_request_error", "invalid_image_url");
      }
      images.push(url.slice(comma + 1));
    }
  }
  return text;
}

/**
 * OpenAI tool-call `arguments` (a JSON string) -> the object Ollama and its clients expect.
 * An empty string is `{}`; some servers already send an object.
 * @returns undefined when `args` is not a JSON object
 */
export function parseToolArguments(args: unknown): Record<string, unknown> | undefined {
  if (args === undefined || args === null) return {};
  if (typeof args === "object") return Array.isArray(args) ? undefined : (args as Record<string, unknown>);
  if (typeof args !== "string") return undefined;
  if (args.trim() === "") return {};
  try {
    const parsed = JSON.parse(args) as unknown;
    if (parsed === null) return {};
    return typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** OpenAI request field -> Ollama option: the inverse of SAME_OPTIONS, plus Ollama's own penalty spelling. */
const TO_OPTIONS: Record<string, string> = {
  ...Object.fromEntries(Object.entries(SAME_OPTIONS).map(([option, field]) => [field, option])),
  repeat_penalty: "repeat_penalty",
};

function formatFrom(request: CanonicalRequest): OllamaFormat | undefined {
  const rf = request.response_format as { type?: string; json_schema?: { schema?: Record<string, unknown> } } | undefined;
  if (rf?.type === "json_object") return "json";
  if (rf?.type === "json_schema") return rf.json_schema?.schema ?? "json";
  return undefined;
}

/**
 * Canonical request -> /api/chat body for an Ollama upstream. The client's Ollama-only fields
 * (OLLAMA_EXTRAS) come back; canonical fields win where both exist, since stages may have changed
 * them. `tool_choice: "none"` drops the tools and a named tool_choice keeps only that tool
 * (Ollama has no tool_choice).
 * @throws ProxyError 400 for tool-call arguments that are not a JSON object, or images given as
 *   http(s) URLs
 */
export function ollamaChatRequestFrom(request: CanonicalRequest): OllamaChatRequest {
  const extras = request[OLLAMA_EXTRAS];
  const names = new Map<string, string>();
  const messages: OllamaMessage[] = request.messages.map((m: CanonicalMessage, i) => {
    const role = m.role === "developer" ? "system" : m.role;
    const images: string[] = [];
    const out: OllamaMessage = { role, content: textOf(m.content, images, `messages[${i}].content`) };
    if (images.length) out.images = images;
    const thinking = m[OLLAMA_THINKING] ?? m.reasoning_content ?? (typeof m.reasoning === "string" ? m.reasoning : undefined);
    if (thinking) out.thinking = thinking;
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((call, j) => {
        const args = parseToolArguments(call.function.arguments);
        if (!args) {
          const text = JSON.stringify(String(call.function.arguments).slice(0, 200));
          throw new ProxyError(400, `messages[${i}].tool_calls[${j}].function.arguments must be a JSON object, got ${text}`, "invalid_request_error", "invalid_tool_arguments");
        }
        names.set(call.id, call.function.name);
        return { function: { name: call.function.name, arguments: args } };
      });
    }
    if (role === "tool") {
      const name = (m.tool_call_id && names.get(m.tool_call_id)) ?? m.name;
      if (name) out.tool_name = name;
    }
    return out;
  });

  const body: OllamaChatRequest = { model: request.model, messages, stream: request.stream === true };
  const choice = request.tool_choice;
  if (request.tools?.length && choice !== "none") {
    body.tools = typeof choice === "object" ? request.tools.filter((t) => t.function.name === choice.function.name) : request.tools;
  }
  const format = extras?.format ?? formatFrom(request);
  if (format !== undefined) body.format = format;

  const options: OllamaOptions = { ...extras?.options };
  for (const key in TO_OPTIONS) {
    const value = request[key];
    if (value !== undefined && value !== null) options[TO_OPTIONS[key]!] = value;
  }
  const max = request.max_tokens ?? request.max_completion_tokens;
  if (typeof max === "number") options.num_predict = max;
  if (request.stop !== undefined && request.stop !== null) options.stop = typeof request.stop === "string" ? [request.stop] : (request.stop as string[]);
  if (Object.keys(options).length > 0) body.options = options;

  if (extras?.keep_alive !== undefined) body.keep_alive = extras.keep_alive;
  const effort = request.reasoning_effort;
  if (extras?.think !== undefined) body.think = extras.think;
  else if (effort === "low" || effort === "medium" || effort === "high") body.think = effort;
  else if (effort === "none" || effort === "minimal") body.think = false;
  return body;
}
