/**
 * The token budget of one request: the model's context window minus the room kept for the reply.
 *
 * The window comes from, in order: the request (Ollama `options.num_ctx`), the config
 * (`compression.models.<glob>.context_window`, else `compression.context_window`), what the upstream
 * reports (src/upstream/model-facts.ts), else there is no budget and nothing is cut. The reply's room is the
 * request's `max_tokens` / `max_completion_tokens` (Ollama `num_predict` arrives as max_tokens), else
 * `reply_reserve`.
 */
import { OLLAMA_EXTRAS } from "../protocol/ollama.ts";
import type { CanonicalRequest } from "../protocol/ollama-request.ts";
import type { CompressionSettings } from "./settings.ts";

export interface Budget {
  /** The context window, tokens. */
  window: number;
  source: "request" | "config" | "upstream";
  /** Tokens kept free for the reply. */
  reserve: number;
  /** Tokens the prompt may use: window - reserve. */
  tokens: number;
}

/** The client's Ollama `options.num_ctx`, when it sent one. */
export function requestedWindow(request: CanonicalRequest): number | undefined {
  const n = request[OLLAMA_EXTRAS]?.options?.num_ctx;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

/**
 * @param reported asks the upstream; called only when neither the request nor the config names a window
 * @returns undefined when no window is known
 */
export async function budgetOf(request: CanonicalRequest, settings: CompressionSettings, reported: () => Promise<number | undefined>): Promise<Budget | undefined> {
  let window = requestedWindow(request);
  let source: Budget["source"] = "request";
  if (window === undefined && settings.context_window > 0) [window, source] = [settings.context_window, "config"];
  if (window === undefined) [window, source] = [await reported(), "upstream"];
  if (window === undefined) return undefined;
  const asked = [request.max_tokens, request.max_completion_tokens].find((n): n is number => typeof n === "number" && n > 0);
  // A client asking for 32k reply tokens of an 8k model still needs room for its prompt; the server stops the reply at the window anyway.
  const reserve = Math.min(asked ?? settings.reply_reserve, Math.floor(window / 2));
  return { window, source, reserve, tokens: window - reserve };
}
