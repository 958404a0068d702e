/**
 * Step 3: the oldest turns are dropped, whole, while the request is over its limit. A turn is a user
 * message with everything up to the next user message: the assistant's replies, its tool calls and
 * their results, so a `tool` message never loses its call and a call never loses its result.
 * System and developer messages stay wherever they are, and so does the last user turn (the one
 * being answered, with the tool calls and results of the current tool loop).
 */
import type { Draft } from "./draft.ts";

const isSystem = (role: string) => role === "system" || role === "developer";

/**
 * The droppable turns, oldest first: for each, the positions of its non-system messages. Messages
 * before the first user message (an assistant's greeting, say) form a turn of their own.
 */
export function turns(roles: readonly string[]): number[][] {
  const lastUser = roles.lastIndexOf("user");
  if (lastUser < 0) return [];
  const out: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i < lastUser; i++) {
    const role = roles[i]!;
    if (isSystem(role)) continue;
    if (role === "user" && current.length > 0) {
      out.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Runs step 3 until the draft's total is at most `limit`. With `block` > 1 the number of turns dropped
 * is rounded up to a multiple of it (counted from the conversation's start): the cut then moves once
 * every `block` turns instead of every turn, and in between the prompt keeps its prefix, so the
 * upstream's KV/prefix cache still holds the history (at the price of up to block - 1 turns more).
 * @returns messages dropped
 */
export function dropHistory(draft: Draft, limit: number, block = 1): number {
  let over = draft.total - limit;
  if (over <= 0) return 0;
  const all = turns(draft.messages.map((m) => m.role));
  let n = 0;
  while (n < all.length && over > 0) for (const i of all[n++]!) over -= draft.cost(i);
  n = Math.min(all.length, Math.ceil(n / block) * block);
  const gone = all.slice(0, n).flat();
  draft.remove(gone);
  return gone.length;
}
