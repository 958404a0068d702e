/**
 * Mode `random`: the token dropping of the simple compressing proxies, for users who rely on it.
 * Each user message's text is tokenised (o200k_base), tokens are dropped at random until the kept
 * share is reached, and the rest is decoded back, in order. Roles, structure, other messages, tools
 * and images are untouched. With a seed the same request gives the same result. A text that cannot
 * be encoded or decoded stays as it was.
 */
import type { Tiktoken } from "js-tiktoken/lite";
import type { ChatMessage, ContentPart } from "../protocol/openai.ts";
import { encoding } from "../selection/tokens.ts";
import { encodeBounded } from "./bpe-bounded.ts";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `text` with about `share` of its tokens kept, chosen at random, in their order; the original on any
 * error. `stats.removed` is increased by the tokens dropped.
 */
export function dropTokens(text: string, share: number, enc: Tiktoken, random: () => number, stats = { removed: 0 }): string {
  try {
    const ids = encodeBounded(enc, text);
    const keep = Math.max(1, Math.round(ids.length * share));
    if (keep >= ids.length) return text;
    // Partial Fisher-Yates over the positions: `keep` distinct positions, then back in order.
    const positions = ids.map((_, i) => i);
    for (let i = 0; i < keep; i++) {
      const j = i + Math.floor(random() * (positions.length - i));
      [positions[i], positions[j]] = [positions[j]!, positions[i]!];
    }
    const kept = positions.slice(0, keep).sort((a, b) => a - b).map((i) => ids[i]!);
    // A multi-byte character split across dropped tokens decodes to U+FFFD: leave those out.
    const out = enc.decode(kept).replaceAll("\uFFFD", "");
    stats.removed += ids.length - keep;
    return out;
  } catch {
    return text;
  }
}

export interface RandomDropResult {
  messages: ChatMessage[];
  /** Indices of the user messages changed. */
  changed: number[];
  /** o200k_base tokens dropped. */
  removed: number;
}

/** Applies mode random to `messages` (user messages only). `seed` undefined: a fresh draw. */
export async function randomDrop(messages: readonly ChatMessage[], share: number, seed: number | undefined): Promise<RandomDropResult> {
  if (share >= 1) return { messages: [...messages], changed: [], removed: 0 };
  const enc = await encoding();
  const random = seed === undefined ? Math.random : seededRandom(seed);
  const changed: number[] = [];
  const stats = { removed: 0 };
  const out = messages.map((m, i) => {
    if (m.role !== "user") return m;
    let next: ChatMessage = m;
    if (typeof m.content === "string") {
      const text = dropTokens(m.content, share, enc, random, stats);
      if (text !== m.content) next = { ...m, content: text };
    } else if (Array.isArray(m.content)) {
      let touched = false;
      const parts = m.content.map((part): ContentPart => {
        if (part.type !== "text" || typeof part.text !== "string") return part;
        const text = dropTokens(part.text, share, enc, random, stats);
        if (text === part.text) return part;
        touched = true;
        return { ...part, text };
      });
      if (touched) next = { ...m, content: parts };
    }
    if (next !== m) changed.push(i);
    return next;
  });
  return { messages: out, changed, removed: stats.removed };
}
