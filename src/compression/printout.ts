/**
 * The before/after text of compressed messages, printed to stdout (`log.log_messages` or
 * `compression.log`) as the compressing proxies users come from print it.
 */
import type { ChatMessage } from "../protocol/openai.ts";

const textOf = (m: ChatMessage): string =>
  typeof m.content === "string"
    ? m.content
    : Array.isArray(m.content)
      ? m.content.map((p) => (p.type === "text" && typeof p.text === "string" ? p.text : `[${p.type}]`)).join("\n")
      : "";

export interface PrintoutInput {
  requestId: string;
  /** One line: mode, tokens before -> after, budget, steps. */
  summary: string;
  before: readonly ChatMessage[];
  after: readonly ChatMessage[];
  /** Per message of `after`, its index in `before`. */
  origin: readonly number[];
}

/** The printout, one string (printed with one console.log so concurrent requests do not interleave). */
export function printout({ requestId, summary, before, after, origin }: PrintoutInput): string {
  const lines = [`[${requestId}] compression: ${summary}`];
  const kept = new Set(origin);
  const dropped = before.map((m, i) => [m, i] as const).filter(([, i]) => !kept.has(i));
  if (dropped.length > 0) lines.push(`[${requestId}]   dropped messages ${dropped.map(([m, i]) => `[${i}] ${m.role}`).join(", ")}`);
  after.forEach((m, j) => {
    const i = origin[j]!;
    const old = before[i]!;
    if (m === old) return;
    lines.push(`[${requestId}]   messages[${i}] (${m.role}) before:`, textOf(old), `[${requestId}]   messages[${i}] (${m.role}) after:`, textOf(m));
  });
  return lines.join("\n");
}
