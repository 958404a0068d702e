/**
 * Token estimates of chat messages and tools, fast enough for every request (docs/compression.md).
 *
 * Counts are o200k_base tokens as estimated by tool selection's linear estimate
 * (`estimateTokens`, src/selection/tokens.ts: one pass, no encoder); the per-model calibration
 * (calibration.ts) maps them to the upstream's own count. The exact encoder (js-tiktoken) is not
 * used here: its table costs ~88 MiB and ~0.4 s of one thread to load, and its BPE is quadratic in a
 * piece; only mode random, which needs real token ids, loads it. The estimate still costs ~25-60 ms
 * per MB of text, so:
 * - a text counted before is looked up by its content (an LRU bounded by characters);
 * - a new text is estimated from its length with a chars-per-token ratio learned from the texts
 *   counted so far (one ratio per kind of text: prose, structured data, tool definitions), and queued;
 * - queued texts are counted in the background, one piece (cut at a newline or space) per
 *   event-loop turn, so no request waits behind a long text;
 * - new texts up to a few KB (a user's question) are counted at once while a per-request allowance lasts.
 * A conversation repeats its system prompt, tools and history on every turn, so after the first
 * request nearly every token comes from the cache.
 */
import type { ChatMessage, Tool } from "../protocol/openai.ts";
import { estimateTokens } from "../selection/tokens.ts";
import { textCache } from "./text-cache.ts";

/** Chat-template tokens around each message (ChatML: `<|im_start|>role\n` ... `<|im_end|>\n`). */
export const MESSAGE_OVERHEAD = 4;
/** Template tokens around each tool call (Qwen/Hermes: `<tool_call>\n{"name": , "arguments": }\n</tool_call>`). */
const TOOL_CALL_OVERHEAD = 10;
/** Per tool in the tools block: the separators and the template's line around each definition. */
const TOOL_OVERHEAD = 2;
/** An image part: OpenAI's figure for one 512 px high-detail tile plus the base (85 + 170 x 4); vision towers vary. */
export const IMAGE_TOKENS = 765;
/** The reply's priming (`<|im_start|>assistant\n`). */
export const REQUEST_OVERHEAD = 3;

/** Characters of text kept in the count cache (~8 MB at most): the system prompts, tools and histories of some dozens of conversations. */
const MAX_CACHED_CHARS = 4_000_000;
/** Characters waiting for a background count; beyond this new texts stay estimated from their length. */
const MAX_QUEUED_CHARS = 2_000_000;
/** Characters counted per event-loop turn in the background (~0.2 ms of prose, ~0.5 ms of random symbols). */
const PIECE_CHARS = 8192;
/** Characters of new text counted at once per request (~0.4 ms of prose), the rest goes to the background. */
const INLINE_CHARS = 16_384;
/** Texts up to this long are worth counting at once (a user's question, a tool result of some lines). */
const INLINE_MAX = 4096;
/**
 * Starting chars per token, replaced as counts come in. Measured with o200k_base on the generated Home
 * Assistant conversations (bench/ha-conversation.ts): user and assistant text 4.6-4.9, the entity
 * listing of the system prompt and tool results 3.3-3.4, tool definitions (JSON around English
 * descriptions) 4.5.
 */
const PRIOR = { prose: 4.6, data: 3.4, tools: 4.4 };
/** Weight of the starting ratio, in tokens, so that the first few counts do not swing it. */
const PRIOR_TOKENS = 2000;

/** prose: user and assistant text; data: system prompts, tool results and arguments; tools: tool definitions. */
export type Kind = "prose" | "data" | "tools";

interface Pending {
  text: string;
  kind: Kind;
  pos: number;
  tokens: number;
}

export class TokenEstimator {
  private readonly counted = textCache<number>(MAX_CACHED_CHARS);
  /** Exact counts of tool objects seen before (weakly held). */
  private readonly byTool = new WeakMap<object, number>();
  private readonly queue: Pending[] = [];
  private readonly queued = new Set<string>();
  private queuedChars = 0;
  private running = false;
  private waiters: (() => void)[] = [];
  private inlineLeft = INLINE_CHARS;
  private readonly learned = { prose: { chars: 0, tokens: 0 }, data: { chars: 0, tokens: 0 }, tools: { chars: 0, tokens: 0 } };
  /** Counts: texts looked up and found, texts estimated from their length. */
  hits = 0;
  misses = 0;

  /** Starts a request: renews the allowance of text counted at once. */
  beginRequest(): void {
    this.inlineLeft = INLINE_CHARS;
  }

  /** Chars per token for texts of `kind`: the prior blended with what has been counted. */
  charsPerToken(kind: Kind): number {
    const l = this.learned[kind];
    return (PRIOR[kind] * PRIOR_TOKENS + l.chars) / (PRIOR_TOKENS + l.tokens);
  }

  /** o200k_base tokens of `text`: its count when counted before or short enough to count now (estimateTokens), else estimated from its length as `kind` (and queued). */
  count(text: string, kind: Kind = "prose"): number {
    if (text.length === 0) return 0;
    const known = this.counted.get(text);
    if (known !== undefined) {
      this.hits++;
      return known;
    }
    if (text.length <= INLINE_MAX && this.inlineLeft >= text.length) {
      this.inlineLeft -= text.length;
      const n = estimateTokens(text);
      this.remember(text, n, kind);
      return n;
    }
    this.misses++;
    this.enqueue(text, kind);
    return Math.ceil(text.length / this.charsPerToken(kind));
  }

  /** Tokens of a message: its text, tool calls and images, plus the template's per-message tokens. */
  messageTokens(message: ChatMessage): number {
    let n = MESSAGE_OVERHEAD;
    const content = message.content;
    const kind: Kind = message.role === "user" || message.role === "assistant" ? "prose" : "data";
    if (typeof content === "string") n += this.count(content, kind);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (part.type === "text" && typeof part.text === "string") n += this.count(part.text, kind);
        else if (part.type === "image_url" || part.type === "input_image" || part.type === "image") n += IMAGE_TOKENS;
      }
    }
    if (Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls) {
        n += TOOL_CALL_OVERHEAD + this.count(String(call.function?.name ?? "")) + this.count(String(call.function?.arguments ?? ""), "data");
      }
    }
    if (typeof message.reasoning_content === "string") n += this.count(message.reasoning_content);
    return n;
  }

  /** Tokens of one tool definition: its minified JSON. */
  toolTokens(tool: Tool): number {
    // Tool objects that come back (step 1 hands out the same compacted objects) are not serialised again.
    const known = this.byTool.get(tool);
    if (known !== undefined) return known;
    const json = toolJson(tool);
    const n = TOOL_OVERHEAD + this.count(json, "tools");
    // Only a count is kept per object; a length-based guess is refined once the background count is in.
    if (this.counted.has(json)) this.byTool.set(tool, n);
    return n;
  }

  /** Resolves when every queued text has been counted. */
  settle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** For /admin: cache size and the learned ratios. */
  stats() {
    return {
      cached_texts: this.counted.size,
      cached_chars: this.counted.weight,
      queued_texts: this.queue.length,
      hits: this.hits,
      misses: this.misses,
      chars_per_token: { prose: round(this.charsPerToken("prose")), data: round(this.charsPerToken("data")), tools: round(this.charsPerToken("tools")) },
    };
  }

  private remember(text: string, tokens: number, kind: Kind): void {
    const l = this.learned[kind];
    l.chars += text.length;
    l.tokens += tokens;
    this.counted.set(text, tokens);
  }

  private enqueue(text: string, kind: Kind): void {
    if (this.queued.has(text) || this.queuedChars + text.length > MAX_QUEUED_CHARS) return;
    this.queued.add(text);
    this.queuedChars += text.length;
    this.queue.push({ text, kind, pos: 0, tokens: 0 });
    if (!this.running) {
      this.running = true;
      void this.drain();
    }
  }

  /** Counts the queue one piece per event-loop turn. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await new Promise((r) => setTimeout(r, 0));
        const item = this.queue[0]!;
        const end = pieceEnd(item.text, item.pos);
        item.tokens += estimateTokens(item.text.slice(item.pos, end));
        item.pos = end;
        if (end < item.text.length) continue;
        this.queue.shift();
        this.queued.delete(item.text);
        this.queuedChars -= item.text.length;
        this.remember(item.text, item.tokens, item.kind);
      }
    } finally {
      this.running = false;
      for (const resolve of this.waiters.splice(0)) resolve();
    }
  }
}

const jsonOfTool = new WeakMap<object, string>();

/** A tool's minified JSON, serialised once per tool object (the estimate and step 1 both need it). */
export function toolJson(tool: Tool): string {
  let json = jsonOfTool.get(tool);
  if (json === undefined) jsonOfTool.set(tool, (json = JSON.stringify(tool)));
  return json;
}

/**
 * Where the piece starting at `pos` ends: just after a newline near PIECE_CHARS, else after a space,
 * where o200k_base's pre-tokeniser splits anyway, so the pieces' counts add up to the whole's.
 */
function pieceEnd(text: string, pos: number): number {
  const hard = pos + PIECE_CHARS;
  if (hard >= text.length) return text.length;
  const newline = text.lastIndexOf("\n", hard);
  if (newline > pos + PIECE_CHARS / 2) return newline + 1;
  const space = text.lastIndexOf(" ", hard);
  return space > pos + PIECE_CHARS / 2 ? space : hard;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
