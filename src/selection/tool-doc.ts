/**
 * What the selector reads from one OpenAI tool definition: the text fields the lexical ranker indexes,
 * the short texts ("views") the semantic ranker embeds, and the identity used by the caches.
 *
 * Fields (OpenAI function-calling format, JSON Schema parameters): the name split into words, the
 * description, parameter names, parameter descriptions and enum values, walked recursively through
 * `properties`, `items`, `anyOf`/`oneOf`/`allOf`.
 */
import { createHash } from "node:crypto";
import type { Tool } from "../protocol/openai.ts";
import { cappedCopy, splitIdentifier } from "./text.ts";

export interface ToolFields {
  /** The function name split into lower-case words ("AppTurnOn" -> "app turn on"). */
  name: string;
  description: string;
  /** Phrases quoted in the description: the examples tool authors give ("Use for requests like 'turn on'"). */
  examples: string;
  paramNames: string;
  paramDescriptions: string;
  enums: string;
}

export interface ToolDoc {
  /** The function name, as sent. */
  name: string;
  /** SHA-256 hex of the canonical JSON of the tool (sorted keys): identity across requests and restarts. */
  hash: string;
  fields: ToolFields;
  /** Kinds of values the parameters take (SLOT_NUMBER, SLOT_PERCENT, SLOT_PLACE, SLOT_PATH, SLOT_URL) and SLOT_QUESTION, matched against the query. */
  slots: string[];
  /** Texts embedded for the semantic ranker: the spoken name, the whole description, its sentences and quoted examples. */
  views: string[];
}

/** JSON with object keys sorted at every depth, so that key order does not change a tool's identity. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Pseudo-terms for the kind of values a tool's parameters take; the tokenizer never produces them. */
export const SLOT_NUMBER = "#number";
export const SLOT_PERCENT = "#percent";
/** The tool takes a place in the home: a parameter named area, room, floor or zone. */
export const SLOT_PLACE = "#place";
/** The tool answers questions: its description says so, or it gives a question as an example. */
export const SLOT_QUESTION = "#question";
/** The tool takes a file-system path: a parameter whose name says path, file, directory or folder. */
export const SLOT_PATH = "#path";
/** The tool takes a web address: a parameter named url, uri, link or href, or of format "uri". */
export const SLOT_URL = "#url";

const PATH_WORDS = new Set(["path", "paths", "file", "files", "filename", "filepath", "dir", "directory", "folder"]);
const URL_WORDS = new Set(["url", "uri", "link", "href"]);

interface SchemaWords {
  names: string[];
  descriptions: string[];
  enums: string[];
  slots: Set<string>;
}

function noteSlots(s: Record<string, unknown>, out: SchemaWords): void {
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (!types.includes("integer") && !types.includes("number")) return;
  out.slots.add(SLOT_NUMBER);
  const percentRange = s.minimum === 0 && s.maximum === 100;
  if (percentRange || (typeof s.description === "string" && /percent/i.test(s.description))) out.slots.add(SLOT_PERCENT);
}

function walkSchema(schema: unknown, out: SchemaWords, depth = 0): void {
  if (!schema || typeof schema !== "object" || depth > 8) return;
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum)) for (const v of s.enum) if (typeof v === "string" || typeof v === "number") out.enums.push(String(v));
  if (s.properties && typeof s.properties === "object") {
    for (const [key, sub] of Object.entries(s.properties as Record<string, unknown>)) {
      out.names.push(key);
      if (/^(area|room|floor|zone)s?$/i.test(key)) out.slots.add(SLOT_PLACE);
      const keyWords = splitIdentifier(key);
      if (keyWords.some((w) => PATH_WORDS.has(w))) out.slots.add(SLOT_PATH);
      if (keyWords.some((w) => URL_WORDS.has(w)) || (sub as Record<string, unknown> | null)?.format === "uri") out.slots.add(SLOT_URL);
      const description = (sub as Record<string, unknown> | null)?.description;
      if (typeof description === "string") out.descriptions.push(description);
      if (sub && typeof sub === "object") noteSlots(sub as Record<string, unknown>, out);
      walkSchema(sub, out, depth + 1);
    }
  }
  if (s.items) walkSchema(s.items, out, depth + 1);
  for (const key of ["anyOf", "oneOf", "allOf"]) if (Array.isArray(s[key])) for (const sub of s[key] as unknown[]) walkSchema(sub, out, depth + 1);
}

/** Phrases quoted inside a description ('turn on', 'Is the light on?'). */
function quotedPhrases(description: string): string[] {
  return [...description.matchAll(/(?<![a-z])['"‘“]([^'"’”]{2,80}?)['"’”](?![a-z])/gi)].map((m) => m[1]!.trim());
}

/** Sentences of a description, and phrases quoted inside it. */
function descriptionViews(description: string): string[] {
  const sentences = description
    // (?<!\s): a numbered item is looked for only where a whitespace run starts, or a long run of
    // spaces would be rescanned from each of its positions (quadratic).
    .split(/(?<=[.!?])\s+(?=[A-Z0-9])|(?<!\s)\s+\d+\.\s+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 3);
  return [...sentences, ...quotedPhrases(description)];
}

/** Changes whenever `views` are built differently, so that cached embeddings of old views are not reused. */
export const VIEWS_VERSION = 2;

/**
 * Most characters of one text field the selector reads (name, description, each joined parameter
 * field). Real tool descriptions stay under ~1,000 characters (Home Assistant's, MCP servers'); the
 * cap bounds what one tool in a client's request can cost in the selector's caches and its embedding
 * batch. The tool itself is forwarded unchanged.
 */
export const MAX_FIELD_CHARS = 2_000;
/** Most views embedded per tool: real tools have 1-6 (name, description, a few sentences and examples). */
export const MAX_VIEWS = 16;

/** `text` cut to MAX_FIELD_CHARS, as a string of its own (cappedCopy: a slice would keep a 16 KB original alive in the caches). */
const capped = (text: string) => cappedCopy(text, MAX_FIELD_CHARS);

/** Builds the selector's view of `tool`; depends on the tool alone, never on the rest of the list. */
export function toolDoc(tool: Tool): ToolDoc {
  const fn = tool.function;
  const description = typeof fn.description === "string" ? capped(fn.description) : "";
  const schema: SchemaWords = { names: [], descriptions: [], enums: [], slots: new Set() };
  walkSchema(fn.parameters, schema);
  if (/\b(questions?|answer(s|ing)?)\b/i.test(description) || quotedPhrases(description).some((q) => q.endsWith("?"))) schema.slots.add(SLOT_QUESTION);
  const nameWords = splitIdentifier(capped(fn.name));
  const views = [...new Set([nameWords.join(" "), description, ...descriptionViews(description)].filter((v) => v.length > 0))].slice(0, MAX_VIEWS);
  return {
    name: fn.name,
    hash: sha256Hex(canonicalJSON(tool)),
    fields: {
      name: nameWords.join(" "),
      description,
      examples: quotedPhrases(description).join(" "),
      paramNames: capped(schema.names.join(" ")),
      paramDescriptions: capped(schema.descriptions.join(" ")),
      enums: capped(schema.enums.join(" ")),
    },
    slots: [...schema.slots],
    views,
  };
}
