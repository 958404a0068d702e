/**
 * Step 4: when messages alone cannot be cut enough, the tools are cut too, by the tool selector
 * (src/selection/) with its token budget (`max_tool_tokens`) set to the room the messages leave.
 * The selector's usual rules still hold: a tool named by tool_choice or called in the history stays,
 * `never` tools go, related tools travel together while they fit.
 */
import type { ChatCompletionRequest, Tool } from "../protocol/openai.ts";
import type { SelectionResult } from "../selection/selector.ts";
import type { ResolvedSettings } from "../selection/settings.ts";
import type { Draft } from "./draft.ts";

/** The part of the selector this step uses. */
export interface ToolSelecting {
  select(request: ChatCompletionRequest, settings: ResolvedSettings): Promise<SelectionResult | undefined>;
}

/** Per-tool tokens the estimator adds to the selector's count (the tool's minified JSON). */
const PER_TOOL_EXTRA = 2;

/** Runs step 4. @returns tools dropped */
export async function dropTools(draft: Draft, limit: number, selector: ToolSelecting, selection: ResolvedSettings): Promise<number> {
  const tools = draft.tools;
  if (!tools || draft.total <= limit) return 0;
  // The selector counts raw o200k tokens of each tool's JSON: the room is brought to its units.
  const room = Math.floor((limit - (draft.total - draft.toolCost)) / draft.weights.tools) - PER_TOOL_EXTRA * tools.length;
  const settings: ResolvedSettings = {
    ...selection,
    // Selection switched off still means "rank them" here: the alternative is an oversized request.
    mode: selection.mode === "off" ? "lexical" : selection.mode,
    min_tools: 0,
    // 0 means "no budget" to the selector; 1 keeps only what it must (tool_choice, tools called).
    max_tool_tokens: Math.max(1, room),
  };
  const request = { ...draft.original, messages: draft.messages, tools };
  let result = await selector.select(request, settings);
  if (!result) return 0;
  const mine = (kept: Tool[]) => kept.reduce((s, t) => s + draft.estimator.toolTokens(t), 0);
  const estimated = mine(result.kept);
  if (estimated > room + PER_TOOL_EXTRA * tools.length && result.tokensAfter > 0) {
    // The selector counts exactly, the draft may still hold length-based estimates: once more in its units.
    const scaled = Math.max(1, Math.floor(room * (result.tokensAfter / estimated)));
    result = (await selector.select(request, { ...settings, max_tool_tokens: scaled })) ?? result;
  }
  if (result.kept.length === tools.length) return 0;
  draft.setTools(result.kept);
  return tools.length - result.kept.length;
}
