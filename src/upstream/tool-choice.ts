/**
 * Named `tool_choice` made true for upstreams that do not honour it. llama.cpp's server treats
 * `{"type":"function","function":{"name":X}}` as "auto" (its grammar allows every tool offered), so
 * the model may call another tool or none. Forwarding only tool X with `tool_choice: "required"`
 * gives the same contract the OpenAI API documents for a named choice: the model calls X.
 *
 * Per upstream `named_tool_choice`: `native` passes the choice on as is, `emulate` always rewrites,
 * `auto` (the default) rewrites when the upstream's facts say it is llama.cpp (`/props` build_info).
 */
import type { UpstreamConfig } from "../config/schema.ts";
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import type { CallOptions } from "./backend.ts";
import { isLlamaCpp, type ModelFacts } from "./model-facts.ts";

/** Looks up what an upstream reports about one of its models (model-facts.ts getModelFacts, bound to the upstream). */
export type FactsLookup = (model: string, call: CallOptions) => Promise<ModelFacts>;

/** The tool a `tool_choice` names, when it names one offered in `tools`. */
export function namedToolChoice(request: ChatCompletionRequest): string | undefined {
  const choice = request.tool_choice;
  if (typeof choice !== "object" || choice === null) return undefined;
  const name = choice.function?.name;
  if (typeof name !== "string" || !request.tools?.some((t) => t.function?.name === name)) return undefined;
  return name;
}

/** `request` with only the tool `name` and `tool_choice: "required"` (a new object; the client's is not changed). */
export function forceTool(request: ChatCompletionRequest, name: string): ChatCompletionRequest {
  return { ...request, tools: request.tools!.filter((t) => t.function?.name === name), tool_choice: "required" };
}

/**
 * The request to send to `upstream`: with a named tool_choice rewritten to what makes it true when the
 * upstream needs that (see the module comment), else `request` itself. Looks up facts only for a
 * request with a named choice under `auto`; a lookup that finds nothing leaves the request alone.
 */
export async function honourNamedToolChoice(request: ChatCompletionRequest, upstream: UpstreamConfig, facts: FactsLookup | undefined, call: CallOptions): Promise<ChatCompletionRequest> {
  const mode = upstream.named_tool_choice;
  if (mode === "native") return request;
  const name = namedToolChoice(request);
  if (name === undefined) return request;
  if (mode === "auto" && !(facts && isLlamaCpp(await facts(request.model, call)))) return request;
  return forceTool(request, name);
}
