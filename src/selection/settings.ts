/**
 * Resolves the tool-selection settings of one request: the global `selection` section with the
 * first `selection.models` entry whose glob matches the model name (the client's name or the
 * upstream's) applied on top. Scalars are replaced; `always` and `never` lists add up.
 */
import type { SelectionConfig } from "../config/schema.ts";
import { matchesAny, type SelectionSettings } from "./rank.ts";

export interface ResolvedSettings extends SelectionSettings {
  deadline_ms: number;
  /** Cache-aware selection mode (working-set.ts). */
  cache: SelectionConfig["cache"];
  cache_max_tool_tokens: number;
  cache_keep: number;
}

/** @param modelNames names the request's model goes by, e.g. [client model, upstream model] */
export function resolveSettings(config: SelectionConfig, modelNames: readonly (string | null | undefined)[]): ResolvedSettings {
  const base: ResolvedSettings = {
    mode: config.mode,
    keep: config.keep,
    min_tools: config.min_tools,
    min_score: config.min_score,
    max_tool_tokens: config.max_tool_tokens,
    always: config.always,
    never: config.never,
    related: config.related,
    keep_within: config.keep_within,
    small_talk_keep: config.small_talk_keep,
    fail_open: config.fail_open,
    server_bonus: config.server_bonus,
    bridge: config.bridge,
    deadline_ms: config.deadline_ms,
    cache: config.cache,
    cache_max_tool_tokens: config.cache_max_tool_tokens,
    cache_keep: config.cache_keep,
  };
  const names = modelNames.filter((n): n is string => typeof n === "string" && n.length > 0);
  const entry = Object.entries(config.models).find(([glob]) => names.some((n) => matchesAny(n, [glob])));
  if (!entry) return base;
  const { always, never, ...scalars } = entry[1];
  const defined = Object.fromEntries(Object.entries(scalars).filter(([, v]) => v !== undefined));
  return { ...base, ...defined, always: [...base.always, ...(always ?? [])], never: [...base.never, ...(never ?? [])] };
}
