/**
 * Resolves the compression settings of one request: the global `compression` section with the first
 * `compression.models` entry whose glob matches one of the model's names (the client's name or the
 * upstream's) applied on top, as selection settings are resolved.
 */
import type { CompressionConfig } from "../config/schema.ts";
import { matchesAny } from "../selection/rank.ts";

export type CompressionMode = "fit" | "random" | "off";

export interface CompressionSettings {
  mode: CompressionMode;
  /** Tokens; 0 = not configured. */
  context_window: number;
  reply_reserve: number;
  safety_margin: number;
  max_tool_result_tokens: number;
  /** Step 3 drops turns in multiples of this. */
  history_block: number;
  /** Share of each user message's tokens that mode random keeps, in (0, 1]. */
  keepShare: number;
}

/** @param modelNames names the request's model goes by, e.g. [client model, upstream model] */
export function resolveCompression(config: CompressionConfig, modelNames: readonly (string | null | undefined)[]): CompressionSettings {
  const names = modelNames.filter((n): n is string => typeof n === "string" && n.length > 0);
  const entry = Object.entries(config.models).find(([glob]) => names.some((n) => matchesAny(n, [glob])));
  const defined = entry ? Object.fromEntries(Object.entries(entry[1]).filter(([, v]) => v !== undefined)) : {};
  const merged = { ...config, ...defined } as CompressionConfig;
  return {
    mode: merged.mode,
    context_window: merged.context_window,
    reply_reserve: merged.reply_reserve,
    safety_margin: merged.safety_margin,
    max_tool_result_tokens: merged.max_tool_result_tokens,
    history_block: merged.history_block,
    // TOKENS_TO_KEEP_RATIO wins when set below 1, as in the proxies these settings come from.
    keepShare: merged.keep_ratio < 1 ? merged.keep_ratio : 1 / merged.ratio,
  };
}
