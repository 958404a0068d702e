/**
 * The splice: when one model reply calls both proxy-owned and client tools, the proxy runs its own
 * calls and returns only the client's. The client then comes back with its history, which holds the
 * assistant message with the client's calls only. The proxy puts its own calls back into that
 * message, and their results right after it, so the model sees the whole turn as it happened.
 *
 * A turn is found by its client calls' `tool_call_id`s, or (Ollama clients send no ids back) by the
 * calls' names and arguments, always within one model and conversation. The state lives behind
 * `SpliceStore`, in memory by default (MemorySpliceStore); after a restart it is gone and the model
 * sees the client's history as the client sent it (docs/augmented-models.md).
 */
import type { ChatMessage, ToolCall } from "../protocol/openai.ts";
import { parseToolArguments } from "../protocol/ollama-request.ts";

/** One remembered turn. */
export interface SpliceEntry {
  /** Every call of the reply in the model's order; `client: true` for the ones the client got. */
  calls: { call: ToolCall; client: boolean }[];
  /** The `tool` messages of the proxy's calls. */
  results: ChatMessage[];
}

/** Where turns are kept; an implementation shared between instances can replace the in-memory one. */
export interface SpliceStore {
  get(key: string): SpliceEntry | undefined;
  set(key: string, entry: SpliceEntry): void;
}

/** In-process store: entries expire `ttlMs` after their last use; past `maxEntries` the least recently used go. */
export class MemorySpliceStore implements SpliceStore {
  private readonly entries = new Map<string, { entry: SpliceEntry; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string): SpliceEntry | undefined {
    const found = this.entries.get(key);
    if (!found) return undefined;
    this.entries.delete(key);
    if (found.expires < Date.now()) return undefined;
    found.expires = Date.now() + this.ttlMs;
    this.entries.set(key, found);
    return found.entry;
  }

  set(key: string, entry: SpliceEntry): void {
    this.entries.delete(key);
    this.entries.set(key, { entry, expires: Date.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Arguments in a canonical spelling (parsed, keys sorted), so `{"a":1, "b":2}` matches `{"b":2,"a":1}`. */
function canonicalArgs(args: string): string {
  const parsed = parseToolArguments(args);
  if (!parsed) return args;
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(parsed));
}

/** The keys a turn is found by: its client calls' ids, and their names and arguments. */
function keys(scope: string, clientCalls: readonly ToolCall[]): string[] {
  const ids = `${scope}\0ids\0${clientCalls.map((c) => c.id).join("\0")}`;
  const signature = `${scope}\0sig\0${JSON.stringify(clientCalls.map((c) => [c.function.name, canonicalArgs(c.function.arguments)]))}`;
  return [ids, signature];
}

/** `model` and `conversation` as one key prefix. */
export function spliceScope(model: string, conversation: string): string {
  return `${model}\0${conversation}`;
}

/** Remembers a turn whose client calls went to the client. */
export function rememberTurn(store: SpliceStore, scope: string, entry: SpliceEntry): void {
  const clientCalls = entry.calls.filter((c) => c.client).map((c) => c.call);
  for (const key of keys(scope, clientCalls)) store.set(key, entry);
}

/**
 * Puts remembered proxy calls back into `messages`.
 * @returns a new array when a turn was restored, else undefined
 */
export function restoreTurns(store: SpliceStore, scope: string, messages: readonly ChatMessage[]): ChatMessage[] | undefined {
  let out: ChatMessage[] | undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role !== "assistant" || !message.tool_calls?.length) continue;
    const sent = message.tool_calls;
    const entry = keys(scope, sent)
      .map((k) => store.get(k))
      .find((e) => e !== undefined);
    if (!entry) continue;
    const clientCalls = entry.calls.filter((c) => c.client);
    if (clientCalls.length !== sent.length || clientCalls.some((c, j) => c.call.function.name !== sent[j]!.function.name)) continue;
    // The client's own calls keep the ids the client uses for its results.
    let next = 0;
    const calls = entry.calls.map((c) => (c.client ? sent[next++]! : c.call));
    out ??= [...messages];
    out.splice(i, 1, { ...message, tool_calls: calls }, ...entry.results);
  }
  return out;
}
