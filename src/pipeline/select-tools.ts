/**
 * Select-tools stage: forwards only the tools the conversation needs (src/selection/). The kept
 * tools are the client's own objects, in the client's order, so they reach the upstream
 * byte-identical. Adds `X-LLM-Proxy-Tools: kept/total` and fills the log row's tools_received,
 * tools_kept, tool_tokens_before/after, selection_mode, selection_ms and tool_decisions. A request without tools
 * passes untouched; a selector failure leaves the tools as they were (the pipeline fails open).
 */
import { resolveSettings } from "../selection/settings.ts";
import type { ChatStage } from "./index.ts";

/** Scores in the log keep 4 decimals: enough to order and compare tools, a third of the bytes. */
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

export const selectTools: ChatStage = {
  name: "select-tools",
  async run(ctx) {
    const { request, exchange, state, target } = ctx;
    const tools = request.tools;
    if (!Array.isArray(tools) || tools.length === 0) return;
    const settings = resolveSettings(state.config.selection, [exchange.row.client_model, target.model]);
    if (settings.mode === "off") {
      // Off costs nothing: no ranking, no token counting on the hot path.
      Object.assign(exchange.row, { tools_received: tools.length, selection_mode: "off" });
      return;
    }
    const result = await state.selector.select(request, settings);
    if (!result) return;
    if (result.kept.length !== tools.length) ctx.request = { ...request, tools: result.kept };
    exchange.responseHeaders["x-llm-proxy-tools"] = `${result.kept.length}/${tools.length}`;
    Object.assign(exchange.row, {
      tools_received: tools.length,
      tools_kept: result.kept.map((t) => t.function.name),
      tool_tokens_before: result.tokensBefore,
      tool_tokens_after: result.tokensAfter,
      selection_mode: result.mode,
      selection_ms: Math.round(result.ms * 100) / 100,
    });
    exchange.row.tool_decisions = result.decisions.map((d) => ({ ...d, lexical: round4(d.lexical), semantic: d.semantic === null ? null : round4(d.semantic), fused: round4(d.fused) }));
  },
};
