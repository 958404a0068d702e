/**
 * Select-tools stage: forwards only the tools the conversation needs (src/selection/). The forwarded
 * tools are the client's own objects, so they reach the upstream byte-identical.
 *
 * Cache-aware (`selection.cache`, docs/tool-selection.md): in `stable` mode (and in `auto` unless the
 * upstream model showed it does not cache prompts) the request's selection N is not forwarded as is:
 * a working set W per client tool set and upstream model is, grown by N when N is not inside it
 * (working-set.ts), so consecutive requests share their prompt prefix and the upstream's prefix cache
 * hits. `per_request` forwards N in the client's order. When W does not fit the request's tool-token
 * budget (`toolTokenBudget`), N is forwarded for that request.
 *
 * Adds `X-LLM-Proxy-Tools: forwarded/total` and fills the log row's tools_received, tools_kept,
 * tool_tokens_before/after, selection_mode, selection_ms, tool_decisions, selection_cache, working_set_size,
 * working_set_change and prompt_tokens_to_compute; the tap adds cached_tokens, which teaches `auto`
 * whether the upstream caches. A request without tools passes untouched; a selector failure leaves
 * the tools as they were (the pipeline fails open).
 */
import type { ToolDecision } from "../selection/rank.ts";
import { sharedRowValue } from "../store/request-log-writer.ts";
import { resolveSettings, type ResolvedSettings } from "../selection/settings.ts";
import { sha256Hex } from "../selection/tool-doc.ts";
import { planWorkingSet, type WorkingSetPlan } from "../selection/working-set.ts";
import type { PromptSegment } from "../selection/prompt-cache.ts";
import { toolRoom } from "./compress.ts";
import type { ChatContext, ChatStage } from "./index.ts";

/**
 * Most o200k_base tokens the forwarded tools may take in this request, or undefined for no limit:
 * `max_tool_tokens`, and the room the messages leave in the model's context budget (compress.ts,
 * mode `fit`). A working set over it is not forwarded: the request gets its own selection, which the
 * compress stage fits further if it must.
 */
export async function toolTokenBudget(ctx: ChatContext, settings: ResolvedSettings): Promise<number | undefined> {
  const room = await toolRoom(ctx, ctx.request);
  const limits = [settings.max_tool_tokens > 0 ? settings.max_tool_tokens : undefined, room].filter((n): n is number => n !== undefined);
  return limits.length ? Math.max(0, Math.min(...limits)) : undefined;
}

/** Scores in the log keep 4 decimals: enough to order and compare tools, a third of the bytes. */
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** Logged decisions by the selector's decisions: made once per remembered outcome, and shared, so the log serialises them once. */
const loggedDecisions = new WeakMap<readonly Readonly<ToolDecision>[], readonly Readonly<ToolDecision>[]>();

/** `decisions` as the log row keeps them (scores to 4 decimals), marked as shared by rows (request-log-writer.ts). */
function logged(decisions: readonly Readonly<ToolDecision>[]): readonly Readonly<ToolDecision>[] {
  let out = loggedDecisions.get(decisions);
  if (!out) {
    out = sharedRowValue(decisions.map((d) => ({ ...d, lexical: round4(d.lexical), semantic: d.semantic === null ? null : round4(d.semantic), fused: round4(d.fused) })));
    loggedDecisions.set(decisions, out);
  }
  return out;
}

/** Near-tie share for the selection a stable set grows by: 0, the set holds the near ties of earlier requests. */
const STABLE_KEEP_WITHIN = 0;

/** What the stage derives from one tool set (the selector's hashes and tokens), made once per set. */
interface ToolSetFacts {
  tokensOf: Map<string, number>;
  /** Each hash's first position in the request's tools. */
  indexOf: Map<string, number>;
  /** Working-set store keys by scope (upstream and model). */
  keys: Map<string, string>;
  /** Each tool's prompt segment (prompt-cache.ts), the same objects for every request. */
  segmentOf: Map<string, PromptSegment>;
}

/** By the selector's hashes array, which is one per tool set (SelectionResult.hashes). */
const toolSetFacts = new WeakMap<readonly string[], ToolSetFacts>();

function factsOf(hashes: readonly string[], tokens: readonly number[]): ToolSetFacts {
  let facts = toolSetFacts.get(hashes);
  if (!facts) {
    const indexOf = new Map<string, number>();
    hashes.forEach((h, i) => indexOf.has(h) || indexOf.set(h, i));
    const segmentOf = new Map(hashes.map((h, i) => [h, { id: h, tokens: tokens[i]! }]));
    facts = { tokensOf: new Map(hashes.map((h, i) => [h, tokens[i]!])), indexOf, keys: new Map(), segmentOf };
    toolSetFacts.set(hashes, facts);
  }
  return facts;
}

/** The store key of one client tool set (its tools' hashes, in order) sent to one upstream model. */
function workingSetKey(scope: string, hashes: readonly string[], facts: ToolSetFacts): string {
  let key = facts.keys.get(scope);
  if (key === undefined) facts.keys.set(scope, (key = sha256Hex(`${scope}\n${hashes.join(",")}`)));
  return key;
}

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
    const scope = `${target.upstream.name}\n${target.model}`;
    const cache = settings.cache === "auto" ? (state.promptCache.caching(scope) === false ? "per_request" : "stable") : settings.cache;
    // The working set supplies what a request's lower ranks and near-ties would: it grows by the best
    // `cache_keep` (and their related tools) alone.
    const stable = cache === "stable" && (settings.cache_keep < settings.keep || settings.keep_within > 0);
    let result = await state.selector.select(request, stable ? { ...settings, keep: Math.min(settings.keep, settings.cache_keep), keep_within: STABLE_KEEP_WITHIN } : settings);
    if (!result) {
      // A list too large to rank (selector.ts, MAX_RANKED_TOOLS_CHARS) goes on whole, as with mode off.
      Object.assign(exchange.row, { tools_received: tools.length, selection_mode: "skipped (tool list too large)" });
      return;
    }
    const { hashes, tokens } = result;
    const facts = factsOf(hashes, tokens);
    const { tokensOf, indexOf } = facts;

    let order = hashes.filter((_, i) => result!.decisions[i]!.kept);
    // A client list that fits the set's cap whole becomes the set whole: the set would grow to most of
    // it over a day anyway, and on a CPU server many small recomputations cost more than one cold
    // prompt (docs/tool-selection.md: 1.28x direct's prompt time with 34 tools, at 1.05x the tokens).
    const whole = cache === "stable" && result.kept.length < tools.length && settings.cache_max_tool_tokens > 0 && result.tokensBefore <= settings.cache_max_tool_tokens;
    if (whole) order = [...hashes];
    let plan: WorkingSetPlan | undefined;
    // Every tool kept (min_tools, or a ranking that failed open): the stored set, if any, goes first
    // and the rest after it, so its prefix stays cached; the set itself does not take them all in.
    if (cache === "stable" && result.kept.length === tools.length) {
      const stored = await state.workingSets.get(workingSetKey(scope, hashes, facts));
      if (stored) {
        const inSet = new Set(stored.tools);
        order = [...stored.tools, ...hashes.filter((h) => !inSet.has(h))];
      }
    } else if (cache === "stable" && (result.kept.length < tools.length || whole)) {
      const budget = await toolTokenBudget(ctx, settings);
      const key = workingSetKey(scope, hashes, facts);
      plan = planWorkingSet(await state.workingSets.get(key), order, {
        maxTokens: settings.cache_max_tool_tokens,
        tokens: (h) => tokensOf.get(h) ?? 0,
        // The compression estimate counts each tool's JSON plus a couple of tokens (compression/tools.ts): a small margin.
        fits: budget === undefined ? undefined : (set) => set.reduce((n, h) => n + (tokensOf.get(h) ?? 0) + 2, 0) <= budget,
      });
      await state.workingSets.set(key, plan.next);
      // Over budget: this request gets exactly the per-request selection.
      if (plan.change === "over budget" && stable) result = (await state.selector.select(request, settings))!;
      order = plan.change === "over budget" ? hashes.filter((_, i) => result!.decisions[i]!.kept) : plan.forward;
    }
    // A stored set names tools by hash; one not in this request (a hand-edited file) is skipped.
    order = order.filter((h) => indexOf.has(h));
    const forwarded = order.map((h) => tools[indexOf.get(h)!]!);
    if (forwarded.length !== tools.length || order.some((h, i) => h !== hashes[i])) ctx.request = { ...request, tools: forwarded };

    const segments = await state.promptCache.segments(ctx.request, order.map((h) => facts.segmentOf.get(h)!));
    const estimate = state.promptCache.estimate(scope, segments);
    exchange.onFinish((row) => state.promptCache.report(scope, row.cached_tokens, estimate.shared));

    exchange.responseHeaders["x-llm-proxy-tools"] = `${forwarded.length}/${tools.length}`;
    Object.assign(exchange.row, {
      tools_received: tools.length,
      tools_kept: forwarded.map((t) => t.function.name),
      tool_tokens_before: result.tokensBefore,
      tool_tokens_after: order.reduce((n, h) => n + (tokensOf.get(h) ?? 0), 0),
      selection_mode: result.mode,
      selection_ms: Math.round(result.ms * 100) / 100,
      selection_cache: plan?.change === "over budget" ? "per_request (over budget)" : cache,
      working_set_size: plan ? plan.next.tools.length : null,
      working_set_change: plan?.change ?? null,
      prompt_tokens_to_compute: estimate.toCompute,
    });
    exchange.row.tool_decisions = logged(result.decisions);
  },
};
