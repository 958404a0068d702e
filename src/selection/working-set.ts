/**
 * The stable forwarded tool set of cache-aware selection (docs/tool-selection.md, "Cache-aware
 * selection"). Per client tool set and upstream model, a working set W of tools is forwarded instead
 * of each request's own selection N, so that consecutive requests share their prompt prefix and the
 * upstream's KV/prefix cache hits. Pure: no I/O, no clock; the caller stores the result.
 *
 * - N inside W: W is forwarded unchanged (byte-identical tools, in W's order).
 * - N not inside W, and W grown by N within `maxTokens`: the missing tools are appended after W's
 *   (appending keeps the prefix of every tool already forwarded; inserting in the client's order
 *   would recompute from the first inserted tool on: bench/template-prefix.ts measured 180 against
 *   635 tokens on Qwen2.5's template). The upstream computes only the new tools and what follows.
 * - W full (grown, it would exceed `maxTokens`): the missing tools are forwarded after W for this request only (a transient tail: W's
 *   prefix stays cached, W does not change) until the tails' tokens add up to what a shrink would
 *   cost (the tokens of W after the first tool it drops, all recomputed once): then W is shrunk in
 *   one step to SHRINK_TO of the cap's tokens, dropping the tools unused for the longest (never one N needs),
 *   and N's missing tools are appended. Paying for tails until they cost as much as one bust, then
 *   busting once, is the ski-rental rule: it never costs more than twice the better of the two, and
 *   the hysteresis leaves a quarter of the cap free for new tools before W is full again.
 * - What would be forwarded not accepted by `fits` (a token budget): N alone is forwarded, in the
 *   client's order, for this request, and W is left as it was.
 */

/** One working set: tools by hash in forwarding order, with the request number that last needed each. */
export interface WorkingSet {
  /** Tool hashes (tool-doc.ts: SHA-256 of the tool's canonical JSON), in forwarding order. */
  tools: string[];
  /** Parallel to `tools`: the number of the last request whose selection needed the tool. */
  lastUsed: number[];
  /** Requests planned with this set so far. */
  requests: number;
  /** Times W changed after it was created (grown or shrunk). */
  changes: number;
  /** Tokens forwarded as transient tails since W last changed (the rent paid before a shrink). */
  tailTokens: number;
}

export type WorkingSetChange = "none" | "created" | "grown" | "tail" | "shrunk" | "over budget";

export interface PlanOptions {
  /** Most tokens (as counted by `tokens`) W's tools may take together; 0 = no cap. */
  maxTokens: number;
  /** Tokens of a tool by hash. */
  tokens: (tool: string) => number;
  /** Whether a list of tools (hashes, forwarding order) fits the request's budget; absent = always. */
  fits?: (tools: readonly string[]) => boolean;
}

export interface WorkingSetPlan {
  /** Tool hashes to forward, in order: W (with a transient tail), or N when that does not fit. */
  forward: string[];
  /** The set to store for the next request. */
  next: WorkingSet;
  change: WorkingSetChange;
}

/** Share of the cap W is cut down to when it is shrunk (hysteresis: a quarter of the cap stays free). */
const SHRINK_TO = 0.75;

/** Each tool's position in a stored set's list, by the list (a set that does not change keeps its list). */
const positions = new WeakMap<readonly string[], ReadonlyMap<string, number>>();

function positionsOf(tools: readonly string[]): ReadonlyMap<string, number> {
  let at = positions.get(tools);
  if (!at) positions.set(tools, (at = new Map(tools.map((h, i) => [h, i]))));
  return at;
}

/**
 * Plans one request's forwarded tools.
 * @param current the stored set, undefined for a new client tool set
 * @param needed the tools this request's selection kept (N), by hash, in the client's order
 */
export function planWorkingSet(current: WorkingSet | undefined, needed: readonly string[], options: PlanOptions): WorkingSetPlan {
  const request = (current?.requests ?? 0) + 1;
  const fits = options.fits ?? (() => true);
  const sum = (hs: readonly string[]) => hs.reduce((n, h) => n + options.tokens(h), 0);
  if (!current) {
    const next: WorkingSet = { tools: [...needed], lastUsed: needed.map(() => request), requests: request, changes: 0, tailTokens: 0 };
    // A first set over budget is not kept: the next request starts afresh.
    if (!fits(next.tools)) return { forward: [...needed], next: { ...next, tools: [], lastUsed: [] }, change: "over budget" };
    return { forward: next.tools, next, change: "created" };
  }
  const at = positionsOf(current.tools);
  const lastUsed = [...current.lastUsed];
  const missing: string[] = [];
  for (const h of needed) {
    const i = at.get(h);
    if (i === undefined) missing.push(h);
    else lastUsed[i] = request;
  }
  const kept: WorkingSet = { ...current, lastUsed, requests: request };
  const overBudget = (): WorkingSetPlan => ({ forward: [...needed], next: kept, change: "over budget" });
  if (missing.length === 0) return fits(current.tools) ? { forward: current.tools, next: kept, change: "none" } : overBudget();

  const grown = [...current.tools, ...missing];
  const grownUsed = [...lastUsed, ...missing.map(() => request)];
  if (options.maxTokens === 0 || sum(grown) <= options.maxTokens) {
    if (!fits(grown)) return overBudget();
    return { forward: grown, next: { tools: grown, lastUsed: grownUsed, requests: request, changes: current.changes + 1, tailTokens: 0 }, change: "grown" };
  }
  const [shrunk, shrunkUsed] = shrink(grown, grownUsed, request, options.maxTokens * SHRINK_TO, options.tokens);
  let same = 0;
  while (same < shrunk.length && shrunk[same] === current.tools[same]) same++;
  const tail = sum(missing);
  if (current.tailTokens + tail < sum(shrunk.slice(same))) {
    if (!fits(grown)) return overBudget();
    return { forward: grown, next: { ...kept, tailTokens: current.tailTokens + tail }, change: "tail" };
  }
  if (!fits(shrunk)) return overBudget();
  return { forward: shrunk, next: { tools: shrunk, lastUsed: shrunkUsed, requests: request, changes: current.changes + 1, tailTokens: 0 }, change: "shrunk" };
}

/**
 * Keeps the tools needed now (used at `request`) and, while they fit `target` tokens, the most
 * recently used others, in their order.
 */
function shrink(tools: string[], used: number[], request: number, target: number, tokens: (tool: string) => number): [string[], number[]] {
  let room = target - tools.reduce((n, h, i) => n + (used[i] === request ? tokens(h) : 0), 0);
  // Most recently used first; among equals, the earlier position (the longer-standing prefix) wins.
  const others = tools.map((_, i) => i).filter((i) => used[i] !== request);
  others.sort((a, b) => used[b]! - used[a]! || a - b);
  const keep = new Set<number>();
  for (const i of others) {
    const cost = tokens(tools[i]!);
    if (cost > room) break;
    room -= cost;
    keep.add(i);
  }
  const idx = tools.map((_, i) => i).filter((i) => used[i] === request || keep.has(i));
  return [idx.map((i) => tools[i]!), idx.map((i) => used[i]!)];
}
