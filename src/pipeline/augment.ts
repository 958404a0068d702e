/**
 * Augment stage, for augmented models only (a request to any other model passes untouched and
 * costs one Map lookup): puts the proxy's earlier calls back into the history (splice.ts), renders
 * the system prompt (templates run concurrently, skills appended) and merges it into the client's
 * first system message, adds the model's proxy-owned tools to the client's, and fills in `params`
 * the client did not send. Leaves the plan for the tool loop in `ctx.loop`.
 */
import { createHash } from "node:crypto";
import { contentText } from "../protocol/ollama-response.ts";
import type { ChatCompletionRequest, ChatMessage } from "../protocol/openai.ts";
import { ProxyError } from "../server/errors.ts";
import { runTool, type ToolSet } from "../tools/registry.ts";
import { renderTemplates } from "../tools/templates.ts";
import type { AugmentedModel } from "./augmented.ts";
import type { Exchange } from "./exchange.ts";
import type { ChatContext, ChatStage } from "./index.ts";
import { restoreTurns, spliceScope } from "./splice.ts";

/** What the tool loop needs to know about one augmented request. */
export interface LoopPlan {
  model: AugmentedModel;
  /** The proxy-owned tools offered in this request (client tools of the same name win). */
  tools: ToolSet;
  /** The conversation's id: X-Conversation-Id, else `user`, else a hash of the first user message. */
  conversation: string;
  /** The front the client speaks (its status default differs). */
  front: "openai" | "ollama";
}

/** The conversation id of a request (see LoopPlan.conversation). */
function conversationOf(exchange: Exchange, request: ChatCompletionRequest): string {
  if (exchange.conversationId) return exchange.conversationId;
  if (typeof request.user === "string" && request.user) return request.user;
  const first = request.messages.find((m) => m.role === "user");
  return `h-${createHash("sha256").update(contentText(first?.content ?? "")).digest("hex").slice(0, 16)}`;
}

const kindOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`);

/**
 * Checks the `tool_calls` of the client's messages, which the splice and the tool loop read (other
 * models' requests go to the upstream as they are and get its own error).
 * @throws ProxyError 400 `invalid_type` naming the field, as the OpenAI API words it
 *   ("Invalid type for 'messages[1].tool_calls': expected an array, but got a string instead.")
 */
function checkToolCalls(messages: readonly ChatMessage[]): void {
  const fail = (param: string, expected: string, found: unknown) => {
    throw new ProxyError(400, `Invalid type for '${param}': expected ${expected}, but got ${kindOf(found)} instead.`, "invalid_request_error", "invalid_type", param);
  };
  messages.forEach((message, i) => {
    const calls: unknown = message.tool_calls;
    if (calls === undefined || calls === null) return;
    if (!Array.isArray(calls)) return fail(`messages[${i}].tool_calls`, "an array", calls);
    calls.forEach((call: unknown, j) => {
      const at = `messages[${i}].tool_calls[${j}]`;
      if (!call || typeof call !== "object" || Array.isArray(call)) return fail(at, "an object", call);
      const fn = (call as { function?: unknown }).function;
      if (!fn || typeof fn !== "object" || Array.isArray(fn)) return fail(`${at}.function`, "an object", fn);
      const name = (fn as { name?: unknown }).name;
      if (typeof name !== "string") fail(`${at}.function.name`, "a string", name);
    });
  });
}

/** `messages` with `prompt` prepended to the first system message, or a new system message first. */
export function mergeSystemPrompt(messages: readonly ChatMessage[], prompt: string): ChatMessage[] {
  if (!prompt) return [...messages];
  const first = messages[0];
  if (first && (first.role === "system" || first.role === "developer")) {
    const content = Array.isArray(first.content) ? [{ type: "text", text: `${prompt}\n\n` }, ...first.content] : first.content ? `${prompt}\n\n${first.content}` : prompt;
    return [{ ...first, content }, ...messages.slice(1)];
  }
  return [{ role: "system", content: prompt }, ...messages];
}

/** Renders the model's system prompt; failing templates become `[unavailable: ...]` notes. */
async function renderPrompt(ctx: ChatContext, model: AugmentedModel): Promise<string> {
  const { state, exchange } = ctx;
  return renderTemplates(
    model.prompt,
    async (call) => {
      const owned = model.findTool(state.tools, call.tool);
      if (!owned) throw new Error(`no tool named ${call.tool}`);
      return runTool(owned.source, call.tool, call.args, { signal: exchange.signal, timeoutMs: model.config.tool_timeout_ms });
    },
    (call, reason) => console.error(`[${exchange.requestId}] llm-proxy: ${model.name}: template ${call.source} failed: ${reason}`),
  );
}

/** The stage (see the module comment); sets `ctx.request` and `ctx.loop` for augmented models only. @throws ProxyError 400 for malformed `tool_calls` in the history */
export const augment: ChatStage = {
  name: "augment",
  failOpen: false,
  async run(ctx) {
    const model = ctx.target.augmented;
    if (!model) return;
    const { state, exchange } = ctx;
    const request = ctx.request;
    checkToolCalls(request.messages);
    const conversation = conversationOf(exchange, request);
    const restored = restoreTurns(state.splices, spliceScope(model.name, conversation), request.messages);
    const clientTools = request.tools ?? [];
    await model.mcpReady(exchange.signal);
    const tools = model.toolSet(state.tools).without(new Set(clientTools.map((t) => t.function?.name)));
    const messages = mergeSystemPrompt(restored ?? request.messages, await renderPrompt(ctx, model));
    const next: ChatCompletionRequest = { ...request, messages };
    for (const [key, value] of Object.entries(model.config.params)) if (next[key] === undefined || next[key] === null) next[key] = value;
    const all = [...clientTools, ...tools.tools];
    if (all.length > 0) next.tools = all;
    ctx.request = next;
    ctx.loop = { model, tools, conversation, front: exchange.row.endpoint.startsWith("/api/") ? "ollama" : "openai" };
  },
};
