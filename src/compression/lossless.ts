/**
 * Step 1, lossless: what the model reads stays the same, only fewer tokens carry it.
 * - JSON inside tool results is minified (parsed and written back without indentation);
 * - runs of spaces and tabs inside a line become one space, trailing blanks go, and three or more
 *   line breaks become two (indentation at the start of a line is kept: it carries YAML's structure);
 * - tool descriptions (the function's and its parameters') get the same whitespace collapse;
 * - a system (or developer) message that repeats an earlier one word for word is dropped.
 */
import type { ChatMessage, ContentPart, Tool } from "../protocol/openai.ts";
import type { Draft } from "./draft.ts";
import { toolJson } from "./estimate.ts";
import { textCache } from "./text-cache.ts";

/**
 * `text` with its whitespace runs collapsed (see above). One pass over maximal runs of blanks, each
 * judged by the characters around it: linear in the text's length (a lookahead such as
 * `[ \t]+(?=\r?\n|$)` backtracks through a long run at each of its positions, 16,000 spaces took 0.2 s).
 */
export function collapseWhitespace(text: string): string {
  return text
    .replace(/[ \t]+/g, (run: string, at: number) => {
      const next = at + run.length;
      if (next === text.length || text[next] === "\n" || (text[next] === "\r" && text[next + 1] === "\n")) return "";
      return run.length >= 2 && at > 0 && /\S/.test(text[at - 1]!) ? " " : run;
    })
    .replace(/(?:\r?\n){3,}/g, (m) => (m.includes("\r") ? "\r\n\r\n" : "\n\n"));
}

const SPACED_JSON = /\n|": |, "|, \{|  /;

/** Minified JSON when `text` is a JSON object or array, else undefined. */
export function minifyJson(text: string): string | undefined {
  const t = text.trimStart();
  if (!t.startsWith("{") && !t.startsWith("[")) return undefined;
  // Indented or spaced JSON (JSON.stringify with an indent, Python's json.dumps) shows one of these;
  // without them it is minified already and parsing it would be wasted.
  if (!SPACED_JSON.test(text)) return undefined;
  try {
    const minified = JSON.stringify(JSON.parse(text));
    return minified.length < text.length ? minified : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Compacted texts by their original, per kind: a conversation resends its history every turn, so
 * nearly every text was compacted before (regex passes and JSON parsing are the step's main cost).
 * 2 M characters each (~4-8 MB) hold the texts of a few dozen long conversations.
 */
const compacted = { tool: textCache<string>(2_000_000), other: textCache<string>(2_000_000) };
/** Texts shorter than this are compacted directly: the lookup would cost as much. */
const MEMO_MIN_CHARS = 256;

function compactText(text: string, tool: boolean): string {
  const memo = tool ? compacted.tool : compacted.other;
  const known = text.length >= MEMO_MIN_CHARS ? memo.get(text) : undefined;
  if (known !== undefined) return known;
  const out = (tool ? minifyJson(text) : undefined) ?? collapseWhitespace(text);
  if (text.length >= MEMO_MIN_CHARS) memo.set(text, out);
  return out;
}

/** The message with its text compacted, or the same object when nothing changed. */
function compactMessage(message: ChatMessage): ChatMessage {
  const tool = message.role === "tool";
  const content = message.content;
  if (typeof content === "string") {
    const text = compactText(content, tool);
    return text === content ? message : { ...message, content: text };
  }
  if (!Array.isArray(content)) return message;
  let changed = false;
  const parts = content.map((part): ContentPart => {
    if (part.type !== "text" || typeof part.text !== "string") return part;
    const text = compactText(part.text, tool);
    if (text === part.text) return part;
    changed = true;
    return { ...part, text };
  });
  return changed ? { ...message, content: parts } : message;
}

/** A JSON Schema (or any JSON value) with whitespace collapsed in every `description` string; the same object when unchanged. */
function compactDescriptions<T>(value: T): T {
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const c = compactDescriptions(v);
      if (c !== v) changed = true;
      return c;
    });
    return (changed ? out : value) as T;
  }
  if (value === null || typeof value !== "object") return value;
  let out: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    const c = key === "description" && typeof v === "string" ? collapseWhitespace(v).trim() : compactDescriptions(v);
    if (c !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = c;
  }
  return (out ?? value) as T;
}

/** Compacted tools by their JSON; null: nothing to compact. The same tool list arrives with every request. */
const compactedTools = textCache<Tool | null>(1_000_000);

function compactTool(tool: Tool): Tool {
  const json = toolJson(tool);
  let known = compactedTools.get(json);
  if (known === undefined) {
    const compact = compactDescriptions(tool);
    compactedTools.set(json, (known = compact === tool ? null : compact));
  }
  return known ?? tool;
}

/** Runs step 1 over the whole draft (it is cheap and safe, so it does not stop early). @returns messages and tools changed or dropped */
export function lossless(draft: Draft): number {
  let changed = 0;
  const seenSystem = new Set<string>();
  const duplicates: number[] = [];
  draft.messages.forEach((message, i) => {
    if ((message.role === "system" || message.role === "developer") && typeof message.content === "string") {
      if (seenSystem.has(message.content)) {
        duplicates.push(i);
        return;
      }
      seenSystem.add(message.content);
    }
    const compact = compactMessage(message);
    if (compact !== message) {
      draft.replace(i, compact);
      changed++;
    }
  });
  draft.remove(duplicates);
  if (draft.tools) {
    const tools = draft.tools.map(compactTool);
    const rewritten = tools.filter((t, i) => t !== draft.tools![i]).length;
    if (rewritten > 0) draft.setTools(tools);
    changed += rewritten;
  }
  return changed + duplicates.length;
}
