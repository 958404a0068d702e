/**
 * Whole-reply translation between OpenAI chat.completion objects and Ollama /api/chat and
 * /api/generate replies (docs/api.md), both ways, plus the final-object statistics. Pure functions.
 *
 * - Tool-call `arguments`: OpenAI's JSON strings become objects (Ollama clients such as Home
 *   Assistant call `.items()` on them); objects become JSON strings the other way.
 * - Reasoning: `reasoning_content` (or `reasoning`) <-> `thinking`.
 * - Durations are nanoseconds; counts come from usage when the upstream reports it. Prompt and
 *   generation times are the upstream's own when it reports them (llama.cpp `timings`), else measured
 *   by the proxy (see doneStats).
 */
import { ProxyError } from "../server/errors.ts";
import type { OllamaChatResponse, OllamaDoneStats, OllamaGenerateResponse, OllamaMessage, OllamaToolCall } from "./ollama.ts";
import { parseToolArguments } from "./ollama-request.ts";
import type { ChatCompletion, ChatMessage, Timings, ToolCall, Usage } from "./openai.ts";

const NS_PER_MS = 1e6;

/** Ms timestamps (performance.now()) of one exchange, for the final object's durations. */
export interface ReplyTiming {
  /** Arrival of the client's request. */
  startedMs: number;
  /**
   * First generated token, when the reply was streamed; undefined when it came whole (the proxy then
   * cannot tell prompt processing from generation).
   */
  firstTokenMs?: number;
  /** End of the reply. */
  endMs: number;
}

const ms = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);

/** OpenAI finish_reason -> Ollama done_reason ("length" stays, everything else is "stop", as Ollama reports tool calls). */
export function doneReason(finishReason: string | null | undefined): string {
  return finishReason === "length" ? "length" : "stop";
}

/**
 * The statistics of a final (`done: true`) object.
 * - Prompt and generation durations: the upstream's `timings.prompt_ms` / `predicted_ms` when it
 *   reports them (llama.cpp; the Ollama backend carries an Ollama upstream's own durations the same
 *   way); else, streamed, arrival to first token and first token to end as the proxy saw them; else
 *   (a whole reply, no timings) the whole wait counts as generation and the prompt as 0, so a rate
 *   computed from them is a lower bound, never an inflated one.
 * - Counts: usage, else timings (`prompt_n + cache_n`, `predicted_n`), else `evalCount` (content deltas seen).
 * - `total_duration` is the wall time the client waited.
 */
export function doneStats(timing: ReplyTiming, usage: Usage | null | undefined, finishReason: string | null | undefined, evalCount = 0, timings?: Timings | null): OllamaDoneStats {
  const total = Math.max(0, timing.endMs - timing.startedMs);
  const promptMs = ms(timings?.prompt_ms);
  const predictedMs = ms(timings?.predicted_ms);
  let prompt: number;
  let evaluation: number;
  if (promptMs !== undefined && predictedMs !== undefined) [prompt, evaluation] = [promptMs, predictedMs];
  else if (timing.firstTokenMs !== undefined) [prompt, evaluation] = [Math.max(0, timing.firstTokenMs - timing.startedMs), Math.max(0, timing.endMs - timing.firstTokenMs)];
  else [prompt, evaluation] = [0, total];
  const promptN = typeof timings?.prompt_n === "number" ? timings.prompt_n + (typeof timings.cache_n === "number" ? timings.cache_n : 0) : undefined;
  return {
    done_reason: doneReason(finishReason),
    total_duration: Math.round(total * NS_PER_MS),
    load_duration: 0,
    prompt_eval_count: usage?.prompt_tokens ?? promptN ?? 0,
    prompt_eval_duration: Math.round(prompt * NS_PER_MS),
    eval_count: usage?.completion_tokens ?? (typeof timings?.predicted_n === "number" ? timings.predicted_n : evalCount),
    eval_duration: Math.round(evaluation * NS_PER_MS),
  };
}

/** Ollama's durations and counts as llama.cpp-style `timings` (ms), so that they survive the trip through the canonical form. */
export function timingsFrom(stats: OllamaDoneStats): Timings | undefined {
  if (stats.prompt_eval_duration === undefined && stats.eval_duration === undefined) return undefined;
  return {
    prompt_n: stats.prompt_eval_count ?? 0,
    prompt_ms: (stats.prompt_eval_duration ?? 0) / NS_PER_MS,
    predicted_n: stats.eval_count ?? 0,
    predicted_ms: (stats.eval_duration ?? 0) / NS_PER_MS,
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
    ...doneStats(timing, completion.usage, choice?.finish_reason, 0, completion.timings),
  };
}

/** OpenAI chat.completion -> Ollama /api/generate reply (`stream: false`). */
export function ollamaGenerateFromCompletion(completion: ChatCompletion, model: string, timing: ReplyTiming): OllamaGenerateResponse {
  const choice = completion.choices?.[0];
  const out: OllamaGenerateResponse = { model, created_at: new Date().toISOString(), response: contentText(choice?.message?.content), done: true };
  const thinking = choice?.message ? reasoningOf(choice.message) : undefined;
  if (thinking) out.thinking = thinking;
  return Object.assign(out, doneStats(timing, completion.usage, choice?.finish_reason, 0, completion.timings));
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
  const completion: ChatCompletion = {
    id: `chatcmpl-${id}`,
    object: "chat.completion",
    created: Number.isNaN(created) ? Math.floor(Date.now() / 1000) : Math.floor(created / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finishReason(reply.done_reason, calls !== undefined) }],
    usage: usageFrom(reply),
  };
  const timings = timingsFrom(reply);
  if (timings) completion.timings = timings;
  return completion;
}
