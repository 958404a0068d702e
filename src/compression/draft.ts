/**
 * The request being compressed: its messages and tools with their estimated tokens, changed by the
 * steps without touching the client's objects (a changed message is a new object). Each message
 * remembers its index in the client's request, for the log and the before/after printout. Costs
 * (`total`, `cost()`, `toolCost`) are in the upstream's tokens: raw estimates times the model's
 * calibration weights.
 */
import type { ChatCompletionRequest, ChatMessage, Tool } from "../protocol/openai.ts";
import type { Weights } from "./calibration.ts";
import { REQUEST_OVERHEAD, type TokenEstimator } from "./estimate.ts";

export class Draft {
  messages: ChatMessage[];
  /** Per message, its estimated tokens (raw o200k_base, before calibration). */
  tokens: number[];
  /** Per message, its index in the original request. */
  origin: number[];
  tools: Tool[] | undefined;
  toolTokens: number[];
  /** Messages whose content a step cut (original indices). */
  readonly truncated = new Set<number>();

  constructor(
    readonly original: ChatCompletionRequest,
    readonly estimator: TokenEstimator,
    readonly weights: Weights = { messages: 1, tools: 1 },
  ) {
    this.messages = [...original.messages];
    this.tokens = this.messages.map((m) => estimator.messageTokens(m));
    this.origin = this.messages.map((_, i) => i);
    this.tools = Array.isArray(original.tools) && original.tools.length > 0 ? original.tools : undefined;
    this.toolTokens = this.tools ? this.tools.map((t) => estimator.toolTokens(t)) : [];
  }

  /** Raw estimated tokens of the messages (with the template's per-request tokens). */
  get messagesRaw(): number {
    let n = REQUEST_OVERHEAD;
    for (const t of this.tokens) n += t;
    return n;
  }

  /** Raw estimated tokens of the tools. */
  get toolsRaw(): number {
    let n = 0;
    for (const t of this.toolTokens) n += t;
    return n;
  }

  /** The whole prompt, in upstream tokens. */
  get total(): number {
    return this.weights.messages * this.messagesRaw + this.weights.tools * this.toolsRaw;
  }

  /** The tools, in upstream tokens. */
  get toolCost(): number {
    return this.weights.tools * this.toolsRaw;
  }

  /** Message `i`, in upstream tokens. */
  cost(i: number): number {
    return this.weights.messages * this.tokens[i]!;
  }

  /** Puts `message` in place of message `i` and recounts it. */
  replace(i: number, message: ChatMessage): void {
    this.messages[i] = message;
    this.tokens[i] = this.estimator.messageTokens(message);
  }

  /** Removes the messages at the given positions (any order). */
  remove(positions: Iterable<number>): void {
    const gone = new Set(positions);
    if (gone.size === 0) return;
    const keep = (_: unknown, i: number) => !gone.has(i);
    this.messages = this.messages.filter(keep);
    this.tokens = this.tokens.filter(keep);
    this.origin = this.origin.filter(keep);
  }

  /** Replaces the tools (a subset, or rewritten copies) and recounts them. */
  setTools(tools: Tool[] | undefined): void {
    this.tools = tools && tools.length > 0 ? tools : undefined;
    this.toolTokens = this.tools ? this.tools.map((t) => this.estimator.toolTokens(t)) : [];
  }

  /** The request to send: the original when nothing changed, else a copy with the new messages and tools. */
  toRequest(): ChatCompletionRequest {
    const messagesChanged = this.messages.length !== this.original.messages.length || this.messages.some((m, i) => m !== this.original.messages[i]);
    const toolsChanged = (this.tools ?? undefined) !== (Array.isArray(this.original.tools) && this.original.tools.length > 0 ? this.original.tools : undefined);
    if (!messagesChanged && !toolsChanged) return this.original;
    const out: ChatCompletionRequest = { ...this.original, messages: this.messages };
    if (toolsChanged) {
      if (this.tools) out.tools = this.tools;
      else {
        // tool_choice without tools is an invalid request.
        delete out.tools;
        delete out.tool_choice;
        delete out.parallel_tool_calls;
      }
    }
    return out;
  }

  /** Original indices of the messages no longer present. */
  dropped(): number[] {
    const present = new Set(this.origin);
    return this.original.messages.map((_, i) => i).filter((i) => !present.has(i));
  }
}
