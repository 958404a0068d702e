/**
 * Compress stage: makes each request fit its model's context (src/compression/, docs/compression.md).
 *
 * Mode `fit` (the default) works when a budget is known (budget.ts): while the estimated prompt is
 * over it, it runs 1. lossless compaction, 2. head+tail cuts of long tool results, 3. whole-turn
 * history dropping, 4. tool selection with a token budget; a request still over goes upstream as it
 * is, marked "over budget" in the log. Mode `random` drops user-message tokens at random to a ratio;
 * `off` does nothing. Adds `X-LLM-Proxy-Compression: before->after` (estimated prompt tokens) and
 * fills the log row; learns the per-model calibration from the upstream's `usage.prompt_tokens`.
 * Any error leaves the request unchanged (the pipeline fails open; failures are counted).
 */
import { budgetOf } from "../compression/budget.ts";
import { Draft } from "../compression/draft.ts";
import { dropHistory } from "../compression/history.ts";
import { lossless } from "../compression/lossless.ts";
import { printout } from "../compression/printout.ts";
import { randomDrop } from "../compression/random-drop.ts";
import type { CompressionService } from "../compression/service.ts";
import { resolveCompression, type CompressionSettings } from "../compression/settings.ts";
import { dropTools } from "../compression/tools.ts";
import { truncateToolResults } from "../compression/tool-results.ts";
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import { resolveSettings } from "../selection/settings.ts";
import { getModelFacts } from "../upstream/model-facts.ts";
import type { ChatContext, ChatStage } from "./index.ts";

const HEADER = "x-llm-proxy-compression";
/**
 * Longest a request waits for the upstream's facts (fetched once per TTL, ~1 ms from a local
 * llama.cpp, a few hundred from a hosted API); a slower answer is cached for the next requests and
 * this one goes on without a reported window.
 */
const FACTS_WAIT_MS = 1000;

export const compress: ChatStage = {
  name: "compress",
  async run(ctx) {
    const { state, exchange, target } = ctx;
    const settings = resolveCompression(state.config.compression, [exchange.row.client_model, target.model]);
    exchange.row.compression_mode = settings.mode;
    if (settings.mode === "off") return;
    try {
      if (settings.mode === "random") await random(ctx, settings);
      else await fit(ctx, settings);
    } catch (err) {
      state.compression.failures++;
      throw err;
    }
  },
};

const printing = (ctx: ChatContext) => ctx.state.config.log.log_messages || ctx.state.config.compression.log;

async function random(ctx: ChatContext, settings: CompressionSettings): Promise<void> {
  const started = performance.now();
  const { request, exchange } = ctx;
  const { messages, changed, removed } = await randomDrop(request.messages, settings.keepShare, ctx.state.config.compression.seed);
  Object.assign(exchange.row, { compression_steps: changed.length ? { random: removed } : {}, messages_truncated: changed.length, compression_ms: ms(started) });
  if (changed.length === 0) return;
  ctx.request = { ...request, messages };
  if (printing(ctx)) {
    const summary = `random, kept ~${Math.round(settings.keepShare * 100)}% of the tokens of ${changed.length} user message(s)`;
    console.log(printout({ requestId: exchange.requestId, summary, before: request.messages, after: messages, origin: messages.map((_, i) => i) }));
  }
}

async function fit(ctx: ChatContext, settings: CompressionSettings): Promise<void> {
  const { state, exchange, target } = ctx;
  const service = state.compression;
  const request = ctx.request;
  const budget = await budgetOf(request, settings, () => reportedWindow(ctx));
  const row = exchange.row;
  if (!budget) {
    row.compression_mode = "fit (no budget)";
    return;
  }
  // Timed from here: the upstream's answer about its window is a one-off network wait, not the stage's work.
  const working = performance.now();
  const key = `${target.upstream.name}/${target.model}`;
  service.estimator.beginRequest();
  const draft = new Draft(request, service.estimator, service.calibration.weights(key));
  // The draft counts in calibrated tokens; the margin is taken off the budget once.
  const margin = 1 + settings.safety_margin;
  const limit = Math.floor(budget.tokens / margin);
  const before = Math.ceil(draft.total * margin);
  // Step name -> estimated tokens it saved (calibrated); "over budget" -> tokens still over.
  const steps: Record<string, number> = {};
  const step = async (name: string, run: () => number | Promise<number>) => {
    if (draft.total <= limit) return;
    const from = draft.total;
    if ((await run()) > 0) steps[name] = Math.round((from - draft.total) * margin);
  };
  await step("lossless", () => lossless(draft));
  await step("tool-results", () => truncateToolResults(draft, limit, settings.max_tool_result_tokens));
  await step("history", () => dropHistory(draft, limit, settings.history_block));
  await step("tools", () => dropTools(draft, limit, state.selector, resolveSettings(state.config.selection, [row.client_model, target.model])));
  if (draft.total > limit) steps["over budget"] = Math.ceil((draft.total - limit) * margin);
  const sent = draft.toRequest();
  ctx.request = sent;
  const after = Math.ceil(draft.total * margin);
  const dropped = draft.dropped().length;
  exchange.responseHeaders[HEADER] = `${before}->${after}`;
  Object.assign(row, {
    prompt_tokens_estimated: before,
    prompt_tokens_estimated_after: after,
    token_budget: budget.tokens,
    compression_steps: steps,
    messages_dropped: dropped,
    messages_truncated: draft.truncated.size,
    compression_ms: ms(working),
  });
  if (sent !== request && printing(ctx)) {
    const summary = `fit, ${before} -> ${after} estimated tokens, budget ${budget.tokens} (${budget.source} window ${budget.window}), steps: ${Object.entries(steps).map(([k, v]) => `${k} ${v}`).join(", ")}`;
    console.log(printout({ requestId: exchange.requestId, summary, before: request.messages, after: draft.messages, origin: draft.origin }));
  }
  learnFrom(ctx, service, key, sent);
}

/**
 * The context window the upstream reports for the model (src/upstream/model-facts.ts: llama.cpp's
 * per-slot n_ctx, vLLM's max_model_len, an Ollama model's num_ctx parameter), else the model's
 * trained context (Ollama `<arch>.context_length`); undefined when `compression.upstream_context` is
 * off or the facts take longer than FACTS_WAIT_MS.
 */
/**
 * The o200k_base tokens the tools of `request` may take so that it fits its context budget as the
 * `fit` mode counts it (estimate, calibration and safety margin as in `fit`), in the selector's units
 * (as step 4 converts them); undefined when there is no budget (mode not `fit`, no window known). For
 * the select-tools stage: a stable tool set that does not fit is not forwarded.
 */
export async function toolRoom(ctx: ChatContext, request: ChatCompletionRequest): Promise<number | undefined> {
  const { state, exchange, target } = ctx;
  const settings = resolveCompression(state.config.compression, [exchange.row.client_model, target.model]);
  if (settings.mode !== "fit") return undefined;
  const budget = await budgetOf(request, settings, () => reportedWindow(ctx));
  if (!budget) return undefined;
  state.compression.estimator.beginRequest();
  const draft = new Draft({ ...request, tools: undefined }, state.compression.estimator, state.compression.calibration.weights(`${target.upstream.name}/${target.model}`));
  return Math.floor((Math.floor(budget.tokens / (1 + settings.safety_margin)) - draft.total) / draft.weights.tools);
}

async function reportedWindow(ctx: ChatContext): Promise<number | undefined> {
  if (!ctx.state.config.compression.upstream_context) return undefined;
  const fetching = getModelFacts(ctx.target.upstream, ctx.target.model, { clientAuthorization: ctx.exchange.clientAuthorization });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), FACTS_WAIT_MS);
  });
  try {
    const facts = await Promise.race([fetching, late]);
    return facts ? (facts.context_length ?? facts.n_ctx_train) : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The prompt tokens llama.cpp counted in its "exceeds the available context size" error (`n_prompt_tokens`). */
function refusedPromptTokens(error: string | null | undefined): number | undefined {
  if (!error?.includes("exceed_context_size_error")) return undefined;
  try {
    const n = (JSON.parse(error) as { error?: { n_prompt_tokens?: unknown } }).error?.n_prompt_tokens;
    return typeof n === "number" && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Once the exchange is over, compares the upstream's count of the prompt (`usage.prompt_tokens`, or
 * the `n_prompt_tokens` of llama.cpp's context-size refusal, so the next request fits) with our raw
 * estimate of what was sent, recounted when the background counts are done (exact, not
 * length-estimated). Ollama's prompt_eval_count leaves out the cached prefix, so Ollama upstreams do
 * not teach it; nor do tool loops that ran proxy tools (their usage sums several calls).
 */
function learnFrom(ctx: ChatContext, service: CompressionService, key: string, sent: ChatCompletionRequest): void {
  if (ctx.target.upstream.config.type === "ollama") return;
  ctx.exchange.onFinish((row) => {
    // A tool loop's usage adds up several calls with more messages than this estimate saw.
    if ((row.tool_rounds ?? 0) > 0) return;
    const actual = row.status === 200 ? row.prompt_tokens : refusedPromptTokens(row.error);
    if (typeof actual !== "number" || actual <= 0) return;
    void service.estimator.settle().then(() => {
      service.estimator.beginRequest();
      const exact = new Draft(sent, service.estimator);
      service.calibration.observe(key, exact.messagesRaw, exact.toolsRaw, actual);
    });
  });
}

const ms = (from: number) => Math.round((performance.now() - from) * 1000) / 1000;
