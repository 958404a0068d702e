/**
 * Step 2: long tool results are cut to their head and tail, oldest first, while the request is over
 * its limit. The model still sees how the result starts (its shape, the first items) and ends (totals,
 * a closing status), with a marker saying how much is missing: `[... 1,234 tokens cut ...]`.
 */
import type { ChatMessage } from "../protocol/openai.ts";
import type { Draft } from "./draft.ts";
import { MESSAGE_OVERHEAD } from "./estimate.ts";

/** Share of the kept tokens taken from the head (what the result is and its first items), the rest from the tail (totals, a closing status). */
const HEAD_SHARE = 0.6;

/** The marker put where text was cut. */
export function cutMarker(tokens: number): string {
  return `[... ${tokens.toLocaleString("en-US")} tokens cut ...]`;
}

/**
 * `text` cut to about `keep` tokens: head and tail with the marker between, cut at line or word
 * boundaries where there is one nearby. `tokens` is the text's estimated count.
 */
export function headAndTail(text: string, tokens: number, keep: number): string {
  const charsPerToken = text.length / Math.max(1, tokens);
  let head = snap(text, Math.floor(keep * HEAD_SHARE * charsPerToken), -1);
  let tail = snap(text, text.length - Math.floor(keep * (1 - HEAD_SHARE) * charsPerToken), 1);
  if (tail <= head) [head, tail] = [Math.floor(text.length / 2), Math.floor(text.length / 2)];
  const cut = Math.max(1, Math.round((tail - head) / charsPerToken));
  return `${text.slice(0, head)}\n${cutMarker(cut)}\n${text.slice(tail)}`;
}

/** `at` moved to a nearby line break (or else space) in `direction`, within 15% of the way. */
function snap(text: string, at: number, direction: -1 | 1): number {
  const reach = Math.max(16, Math.floor(Math.min(at, text.length - at) * 0.15));
  const find = (ch: string) => (direction < 0 ? text.lastIndexOf(ch, at) : text.indexOf(ch, at));
  for (const ch of ["\n", " "]) {
    const i = find(ch);
    if (i >= 0 && Math.abs(i - at) <= reach) return direction < 0 ? i : i + 1;
  }
  return at;
}

/** Runs step 2 until the draft's total is at most `limit`. @returns messages cut */
export function truncateToolResults(draft: Draft, limit: number, maxTokens: number): number {
  let cut = 0;
  for (let i = 0; i < draft.messages.length && draft.total > limit; i++) {
    const message = draft.messages[i]!;
    if (message.role !== "tool" || typeof message.content !== "string") continue;
    const tokens = draft.tokens[i]! - MESSAGE_OVERHEAD;
    if (tokens <= maxTokens) continue;
    const shorter: ChatMessage = { ...message, content: headAndTail(message.content, tokens, maxTokens) };
    draft.replace(i, shorter);
    draft.truncated.add(draft.origin[i]!);
    cut++;
  }
  return cut;
}
