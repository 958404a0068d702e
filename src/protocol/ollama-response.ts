/**
 * Whole-reply translation between OpenAI chat.completion objects and Ollama /api/chat and
 * /api/generate replies (docs/api.md), both ways, plus the final-object statistics. Pure functions.
 *
 * - Tool-call `arguments`: OpenAI's JSON strings become objects (Ollama clients such as Home
 *   Assistant call `.items()` on them); objects become JSON strings the other way.
 * - Reasoning: `reasoning_content` (or `reasoning`) <-> `thinking`.
 * - Durations are nanoseconds; counts come from usage when the upstream reports it.
 */
import { ProxyError } from "../server/errors.ts";
import type { OllamaChatResponse, OllamaDoneStats, OllamaGenerateResponse, OllamaMessage, OllamaToolCall } from "./ollama.ts";
import { parseToolArguments } from "./ollama-request.ts";
import type { ChatCompletion, ChatMessage, ToolCall, Usage } from "./openai.ts";

const NS_PER_MS = 1e6;

/** Ms timestamps (performance.now()) of one exchange, for the final object's durations. */
export interface ReplyTiming {
  /** Arrival of the client's request. */
  startedMs: number;
  /** First generated token (or the whole reply, when not streamed). */
  firstTokenMs: number;
  /** End of the reply. */
  endMs: number;
}

/** OpenAI finish_reason -> Ollama done_reason ("length" stays, everything else is "stop", as Ollama reports tool calls). */
export function doneReason(finishReason: string | null | undefined): string {
  return finishReason === "length" ? "length" : "stop";
}

/** The statistics of a final (`done: true`) object. `evalCount` is used when usage has no completion_tokens. */
export function doneStats(timing: ReplyTiming, usage: Usage | null | undefined, finishReason: string | null | undefined, evalCount = 0): OllamaDoneStats {
  const prompt = Math.max(0, timing.firstTokenMs - timing.startedMs);
  const evaluation = Math.max(0, timing.endMs - timing.firstTokenMs);
  return {
    done_reason: doneReason(finishReason),
    total_duration: Math.round((timing.endMs - timing.startedMs) * NS_PER_MS),
    load_duration: 0,
    prompt_eval_count: usage?.prompt_tokens ?? 0,
    prompt_eval_duration: Math.round(prompt * NS_PER_MS),
    eval_count: usage?.completion_tokens ?? evalCount,
    eval_duration: Math.round(evaluation * NS_PER_MS),
  };
}

/** The text of OpenAI content (a string, text parts, or null). */
export function contentText(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) if (part.type === "text" && typeof part.text === "string") text += part.text;
  return text;
}

/** The reasoning text of an OpenAI message or delta, in either spelling servers use. */
export function reasoningOf(message: { reasoning_content?: unknown; reasoning?: unknown }): string | undefined {
  const r = message.reasoning_content ?? message.reasoning;
  return typeof r === "string" && r !== "" ? r : undefined;
}

/**
 * One OpenAI tool call -> Ollama's (whole, `arguments` an object).
 * @throws ProxyError 502 when the upstream's arguments are not a JSON object
 */
export function ollamaToolCall(name: string, args: unknown): OllamaToolCall {
  const parsed = parseToolArguments(args);
  if (!parsed) {
    const text = JSON.stringify(String(args).slice(0, 200));
    throw new ProxyError(502, `the upstream model called tool '${name}' with arguments that are not a JSON object: ${text}`, "upstream_error", "invalid_tool_arguments");
  }
  return { function: { name, arguments: parsed } };
}

/** An OpenAI assistant message -> Ollama's. @throws ProxyError 502 for malformed tool-call arguments */
export function ollamaMessageFrom(message: ChatMessage | undefined): OllamaMessage {
  const out: OllamaMessage = { role: "assistant", content: contentText(message?.content) };
  const thinking = message ? reasoningOf(message) : undefined;
  if (thinking) out.thinking = thinking;
  if (message?.tool_calls?.length) out.tool_calls = message.tool_calls.map((c) => ollamaToolCall(c.function?.name ?? "", c.function?.arguments));
  return out;
}

/**
 * OpenAI chat.completion -> Ollama /api/chat reply (`stream: false`).
 * @param model the model name the client asked for
 * @throws ProxyError 502 for malformed tool-call arguments
 */
export function ollamaChatFromCompletion(completion: ChatCompletion, model: string, timing: ReplyTiming): OllamaChatResponse {
  const choice = completion.choices?.[0];
  return {
    model,
    created_at: new Date().toISOString(),
    message: ollamaMessageFrom(choice?.message),
    done: true,
    ...doneStats(timing, completion.usage, choice?.finish_reason),
  };
}

/** OpenAI chat.completion -> Ollama /api/generate reply (`stream: false`). */
export function ollamaGenerateFromCompletion(completion: ChatCompletion, model: string, timing: ReplyTiming): OllamaGenerateResponse {
  const choice = completion.choices?.[0];
  const out: OllamaGenerateResponse = { model, created_at: new Date().toISOString(), response: contentText(choice?.message?.content), done: true };
  const thinking = choice?.message ? reasoningOf(choice.message) : undefined;
  if (thinking) out.thinking = thinking;
  return Object.assign(out, doneStats(timing, completion.usage, choice?.finish_reason));
}

/** Ollama done_reason (and whether tool calls were made) -> OpenAI finish_reason. */
export function finishReason(doneReasonValue: string | undefined, hasToolCalls: boolean): string {
  if (hasToolCalls) return "tool_calls";
  return doneReasonValue === "length" ? "length" : "stop";
}

/** Ollama tool calls -> OpenAI's, with ids (Ollama sends none) and `arguments` as JSON strings. */
export function openAIToolCalls(calls: OllamaToolCall[], idPrefix: string, first = 0): ToolCall[] {
  return calls.map((call, i) => ({
    id: call.id ?? `${idPrefix}_${first + i}`,
    type: "function",
    function: { name: call.function.name, arguments: typeof call.function.arguments === "string" ? call.function.arguments : JSON.stringify(call.function.arguments ?? {}) },
  }));
}

/** Ollama's token counts as OpenAI usage. */
export function usageFrom(reply: OllamaDoneStats): Usage {
  const prompt_tokens = reply.prompt_eval_count ?? 0;
  const completion_tokens = reply.eval_count ?? 0;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/**
 * Ollama /api/chat reply (`stream: false`) -> OpenAI chat.completion.
 * @param model the model name to report (the one the client asked for)
 */
export function completionFromOllama(reply: OllamaChatResponse, model: string, id: string): ChatCompletion {
  const m = reply.message ?? { role: "assistant", content: "" };
  const calls = m.tool_calls?.length ? openAIToolCalls(m.tool_calls, `call_${id}`) : undefined;
  const message: ChatMessage = { role: "assistant", content: calls && !m.content ? null : (m.content ?? "") };
  if (m.thinking) message.reasoning_content = m.thinking;
  if (calls) message.tool_calls = calls;
  const created = Date.parse(reply.created_at);
  return {
    id: `chatcmpl-${id}`,
    object: "chat.completion",
    created: Number.isNaN(created) ? Math.floor(Date.now() / 1000) : Math.floor(created / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finishReason(reply.done_reason, calls !== undefined) }],
    usage: usageFrom(reply),
  };
}
