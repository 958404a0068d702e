/**
 * Runs a canonical chat request through the pipeline stages and sends it upstream:
 * resolve -> stages (augment, tool selection, compression, ...) -> backend -> tapped reply; for an
 * augmented model, the tool loop in place of the single backend call.
 *
 * Optimisation stages fail open: an unexpected error in one is logged once and the request goes on
 * unchanged. A stage that changes what the model is (augment) fails closed: its error is a 500, since
 * forwarding the request without it would answer as another model. A ProxyError from a stage is
 * passed on as it is.
 */
import { maskSecrets } from "../config/load.ts";
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import type { RuntimeState } from "../runtime.ts";
import type { CallOptions } from "../upstream/backend.ts";
import { ProxyError } from "../server/errors.ts";
import type { Exchange } from "./exchange.ts";
import { augment, type LoopPlan } from "./augment.ts";
import { compress } from "./compress.ts";
import { resolveTarget, type Target } from "./resolve.ts";
import { selectTools } from "./select-tools.ts";
import { tapReply } from "./tap.ts";
import { runToolLoop } from "./tool-loop.ts";

export interface ChatContext {
  readonly state: RuntimeState;
  readonly exchange: Exchange;
  /** The canonical request; stages replace it (never mutate the client's objects in place). */
  request: ChatCompletionRequest;
  readonly target: Target;
  /** Set by the augment stage: the request goes through the tool loop. */
  loop?: LoopPlan;
}

export interface ChatStage {
  name: string;
  /** False for a stage the request means nothing without (its failure fails the request). Default true. */
  failOpen?: boolean;
  run(ctx: ChatContext): void | Promise<void>;
}

/** The stages, in order. */
export const STAGES: ChatStage[] = [augment, selectTools, compress];

const warned = new Set<string>();

/** Forwards upstream call events to the exchange's log row. */
export function callOptions(exchange: Exchange) {
  return {
    signal: exchange.signal,
    clientAuthorization: exchange.clientAuthorization,
    onRetry: ({ reason }: { reason: string }) => {
      exchange.row.retries = (exchange.row.retries ?? 0) + 1;
      (exchange.row.retry_reasons ??= []).push(reason);
    },
  };
}

/**
 * Sends one chat request to the target's upstream and notes the upstream's health. An error status
 * the upstream's retry policy does not retry (a generation's 500) would repeat: `exchange`'s response
 * then says `x-should-retry: false`, so that the OpenAI SDKs (2 retries of any 5xx by default) do not
 * generate it again either.
 * @throws ProxyError when the upstream cannot be reached or times out
 */
export async function sendChat(target: Target, request: ChatCompletionRequest, call: CallOptions, exchange: Exchange) {
  let reply;
  try {
    reply = await target.upstream.backend.chat(request, call);
  } catch (err) {
    if (err instanceof ProxyError) target.upstream.markError(err.message);
    throw err;
  }
  const status = reply.response.status;
  if (status >= 500) target.upstream.markError(`HTTP ${status}`);
  else target.upstream.markOk();
  if (status >= 500 && !target.upstream.config.retry_on.includes(status)) exchange.responseHeaders["x-should-retry"] = "false";
  return reply;
}

/**
 * @returns an OpenAI-shaped Response (JSON, or SSE when `request.stream`), tapped for the log, with
 *   the exchange's headers; upstream error statuses and bodies are passed on as they are
 * @throws ProxyError for the proxy's own failures (unknown model, unreachable upstream, timeout)
 */
export async function runChat(state: RuntimeState, exchange: Exchange, request: ChatCompletionRequest): Promise<Response> {
  const { config } = state;
  const row = exchange.row;
  row.client_model = request.model ?? null;
  row.stream = request.stream === true;
  if (config.log.bodies) row.request_body = JSON.stringify(maskSecrets(request));
  if (config.log.log_raw_requests) console.log(`[${exchange.requestId}] request: ${JSON.stringify(request)}`);
  if (config.log.log_messages) console.log(`[${exchange.requestId}] messages: ${JSON.stringify(request.messages)}`);

  // The client's body: what the stages leave of it is forwarded as the client's text (protocol/raw-json.ts).
  const call = { ...callOptions(exchange), clientBody: request };
  const target = await resolveTarget(state, request.model, call);
  row.upstream = target.upstream.name;
  row.upstream_model = target.model;
  // The client's own object while the model name is unchanged, so its JSON text can be forwarded as is.
  const ctx: ChatContext = { state, exchange, target, request: target.model === request.model ? request : { ...request, model: target.model } };
  for (const stage of STAGES) {
    try {
      await stage.run(ctx);
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      if (stage.failOpen === false) {
        console.error(`llm-proxy: stage ${stage.name} failed, request refused: ${(err as Error).stack ?? err}`);
        throw new ProxyError(500, `llm-proxy could not prepare the request (${stage.name}): ${(err as Error).message ?? err}`);
      }
      if (!warned.has(stage.name)) {
        warned.add(stage.name);
        console.error(`llm-proxy: stage ${stage.name} failed, request passed on unchanged: ${(err as Error).stack ?? err}`);
      }
    }
  }

  if (ctx.loop) return runToolLoop(ctx, ctx.loop);
  const reply = await sendChat(target, ctx.request, call, exchange);
  const sse = (reply.response.headers.get("content-type") ?? "").includes("text/event-stream");
  return tapReply(reply.response, exchange, { sse, captureBody: config.log.bodies, printBody: config.log.log_raw_responses, idle: reply.idle });
}
