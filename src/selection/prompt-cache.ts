/**
 * What the proxy knows about an upstream model's prompt (KV/prefix) cache: how many tokens of a
 * request the upstream will have to compute, estimated from the prompts the proxy sent it before,
 * and whether it caches at all, learned from what its replies report
 * (`usage.prompt_tokens_details.cached_tokens`, llama.cpp's `timings.cache_n`).
 *
 * The estimate models a prompt as segments in the order common chat templates render them: the
 * leading system message(s), then the tools (Qwen2.5 renders them at the end of the system turn,
 * Llama 3.1 at the start of the first user turn, both before the rest), then the other messages.
 * Tokens to compute = the tokens of the segments after the longest run of leading segments shared
 * with one of the last SLOTS prompts sent to that upstream model; the segment where the prompts part
 * counts whole. Tokens are o200k_base as tokens.ts estimates them in one linear pass, not the
 * upstream's tokenizer: an estimate.
 */
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import { Lru } from "./cache.ts";
import { estimateTokens } from "./tokens.ts";

/** One part of a rendered prompt: an identity (equal ids, equal text) and its tokens. */
export interface PromptSegment {
  id: string;
  tokens: number;
}

export interface PromptEstimate {
  /** Tokens the upstream is expected to compute (after the shared prefix). */
  toCompute: number;
  /** Tokens of the prefix shared with an earlier prompt. */
  shared: number;
}

/**
 * Prompts remembered per upstream model: llama.cpp serves 4 slots by default (`--parallel`) and
 * picks the one whose cached prompt is most similar; Ollama runs up to 4 (OLLAMA_NUM_PARALLEL).
 */
const SLOTS = 4;
/** OpenAI caches prompts from 1,024 tokens on; a reported 0 for a shorter shared prefix says nothing. */
const MIN_SHARED = 1024;
/** Replies in a row that report 0 cached tokens for a long shared prefix before the upstream counts as not caching. */
const MISSES = 3;
/** Upstream models tracked. */
const SCOPES = 256;
/** Message token counts kept (the system prompt repeats with every request). */
const COUNTS = 1024;

interface Scope {
  prompts: PromptSegment[][];
  /** true: a reply reported cached tokens; false: MISSES replies in a row reported none. */
  caching?: boolean;
  misses: number;
}

export class PromptCacheTracker {
  private readonly scopes = new Lru<string, Scope>(SCOPES);
  private readonly counts = new Lru<string, number>(COUNTS);
  /**
   * A tool's segment by the caller's segment object: a caller that passes the same objects for a tool
   * set (select-tools.ts) gets the same id strings, which estimate() then compares by reference.
   */
  private readonly toolSegments = new WeakMap<PromptSegment, PromptSegment>();

  /**
   * The segments of `request` as it will be forwarded, its tools given by hash and tokens (in
   * forwarding order). Counts message tokens (cached by text).
   */
  async segments(request: ChatCompletionRequest, tools: readonly PromptSegment[]): Promise<PromptSegment[]> {
    const messages = Array.isArray(request.messages) ? request.messages : [];
    let lead = 0;
    while (lead < messages.length && messages[lead]?.role === "system") lead++;
    const of = async (m: unknown): Promise<PromptSegment> => {
      const text = JSON.stringify(m) ?? "";
      const id = Bun.hash(text).toString(36);
      let tokens = this.counts.get(id);
      // The linear estimate, never the encoder: its BPE is quadratic in a long piece (tokens.ts).
      if (tokens === undefined) this.counts.set(id, (tokens = estimateTokens(text)));
      return { id, tokens };
    };
    const head = await Promise.all(messages.slice(0, lead).map(of));
    const rest = await Promise.all(messages.slice(lead).map(of));
    const tool = (t: PromptSegment) => {
      let segment = this.toolSegments.get(t);
      if (segment?.tokens !== t.tokens) this.toolSegments.set(t, (segment = { id: `tool:${t.id}`, tokens: t.tokens }));
      return segment;
    };
    return [...head, ...tools.map(tool), ...rest];
  }

  /** Estimates the tokens to compute for `segments` sent to `scope` (upstream and model), and remembers the prompt. */
  estimate(scope: string, segments: PromptSegment[]): PromptEstimate {
    let s = this.scopes.get(scope);
    if (!s) this.scopes.set(scope, (s = { prompts: [], misses: 0 }));
    const total = segments.reduce((n, x) => n + x.tokens, 0);
    let best = -1;
    let shared = 0;
    s.prompts.forEach((p, i) => {
      let n = 0;
      for (let k = 0; k < p.length && k < segments.length && p[k]!.id === segments[k]!.id; k++) n += segments[k]!.tokens;
      if (n > shared) [best, shared] = [i, n];
    });
    // The slot that served the best match now holds this prompt; a miss takes the least recently used slot.
    if (best >= 0) s.prompts.splice(best, 1);
    else if (s.prompts.length >= SLOTS) s.prompts.shift();
    s.prompts.push(segments);
    return { toCompute: total - shared, shared };
  }

  /** Learns from a reply: `cached` tokens it reported (undefined/null: not reported), `shared` the estimate's shared prefix. */
  report(scope: string, cached: number | null | undefined, shared: number): void {
    if (typeof cached !== "number") return;
    const s = this.scopes.get(scope);
    if (!s) return;
    if (cached > 0) {
      s.caching = true;
      s.misses = 0;
    } else if (shared >= MIN_SHARED && ++s.misses >= MISSES) s.caching = false;
  }

  /** true when the upstream model reported cache hits, false when it repeatedly reported none, else undefined. */
  caching(scope: string): boolean | undefined {
    return this.scopes.get(scope)?.caching;
  }
}
