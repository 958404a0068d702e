/**
 * JSON request bodies that remember the exact text they were parsed from, so that a request the
 * proxy does not change is forwarded as the client's own bytes instead of being serialised again,
 * and one it changes in a few members (tools selected, model renamed) is forwarded as the client's
 * text of every other member. (JSON.stringify of a Home Assistant request with 34 tools costs more
 * than the rest of the proxy's work on it; see docs/benchmarks.md.) The text is keyed by the parsed
 * object: a stage that changes the request makes a new object, whose unchanged members are the
 * client's own values (identity), and only the changed ones are serialised.
 *
 * A client sends the same tools with every request (Home Assistant, agents): a top-level `tools`
 * member whose bytes were seen before is not parsed again but taken from a small cache, as one
 * deep-frozen array shared by the requests that carry those bytes (nothing may change it in place:
 * stages make new objects). The tools' text is remembered with it, so the tool selector keys its
 * per-tool-set work by those bytes without serialising the tools (selection/selector.ts).
 */
const texts = new WeakMap<object, string>();
/** Per parsed top-level object: the [start, end) span of each member's value in its text. */
const members = new WeakMap<object, Map<string, [number, number]>>();

/** JSON.parse that remembers `text` for the parsed object or array. @throws SyntaxError */
export function parseJsonKeepingText(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (value !== null && typeof value === "object") texts.set(value, text);
  return value;
}

/** The text `value` was parsed from, when it is the very object parseJsonKeepingText (or parseJsonBody) returned, or a cached `tools` array. */
export function jsonTextOf(value: object): string | undefined {
  return texts.get(value);
}

/** A `tools` member seen before: its text, its parsed (deep-frozen) value, and how deep it nests. */
interface KnownTools {
  text: string;
  value: readonly unknown[];
  depth: number;
}

/** Tool sets kept parsed: a deployment has a few client kinds, each with its set (or a few, as entities change). */
const KNOWN_SETS = 8;
/**
 * Their text in all (UTF-16 code units): ordinary sets take 10-60 KB (Home Assistant's 34 tools 14 K);
 * with their parsed objects a few times that in memory. A bigger set is parsed per request, as before.
 */
const KNOWN_CHARS = 1 << 20;
/** Tool sets seen once, by hash: a set is kept parsed on its second sighting, so a client that varies its tools costs no copies. */
const SIGHTED = 64;

/** Most recently used first. */
let known: KnownTools[] = [];
/** Insertion order: the oldest is dropped first. */
const sighted = new Set<number | bigint>();

/** Keeps `tools` first, dropping the least recently used sets beyond KNOWN_SETS or KNOWN_CHARS. */
function keep(tools: KnownTools): void {
  let chars = 0;
  known = [tools, ...known.filter((k) => k !== tools)].filter((k, i) => i < KNOWN_SETS && (chars += k.text.length) <= KNOWN_CHARS);
}

/** `value` and everything in it frozen. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The cached tools whose text starts `text` at `at`, if any. */
function knownToolsAt(text: string, at: number): KnownTools | undefined {
  const k = known.find((k) => text.startsWith(k.text, at));
  if (k && k !== known[0]) keep(k);
  return k;
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

interface Scan {
  tooDeep: boolean;
  /** Top-level members (key, value start, value end), when `text` is one object with distinct plain keys. */
  members?: [string, number, number][];
  /** Deepest nesting inside each member's value (its own brackets included), parallel to `members`. */
  depths?: number[];
  /** The cached `tools` the text carries, skipped by the scan. */
  tools?: KnownTools;
}

/** Index of the quote that ends the string whose content starts at `from`, or -1 (unterminated). */
function stringEnd(text: string, from: number): number {
  for (let q = text.indexOf('"', from); q >= 0; q = text.indexOf('"', q + 1)) {
    let slashes = 0;
    while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
    // An even run of backslashes escapes itself, not the quote.
    if (slashes % 2 === 0) return q;
  }
  return -1;
}

/**
 * One pass over `text`: whether it nests deeper than `limit` (brackets inside strings do not count),
 * and the spans of the top-level object's members. Strings are skipped with indexOf, so the cost
 * is in the structure, not the prose; a `tools` member whose text is a cached set's is skipped at
 * the cost of one comparison. Malformed JSON yields no members (JSON.parse then judges it).
 */
function scan(text: string, limit: number): Scan {
  const n = text.length;
  let first = 0;
  while (first < n && isSpace(text.charCodeAt(first))) first++;
  const object = text.charCodeAt(first) === 0x7b;
  const spans: [string, number, number][] = [];
  const depths: number[] = [];
  let tools: KnownTools | undefined;
  let plain = object;
  let depth = 0;
  // The member being read at depth 1: its key, where its value starts, how deep the value nests.
  let key: string | undefined;
  let valueStart = -1;
  let deepest = 0;
  for (let i = first; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i + 1);
      if (end < 0) return { tooDeep: false };
      if (depth === 1 && valueStart < 0) {
        key = text.slice(i + 1, end);
        if (key.includes("\\")) plain = false;
      }
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return { tooDeep: true };
      if (depth - 1 > deepest) deepest = depth - 1;
    } else if (c === 0x5d || c === 0x7d || (c === 0x2c && depth === 1)) {
      if (c !== 0x2c && --depth !== 0) continue;
      if (!plain) continue;
      // The end of a member (a comma at depth 1, or the object's closing brace).
      if (key === undefined || valueStart < 0) {
        // Only `{}` ends with no member open.
        if (!(c === 0x7d && spans.length === 0 && key === undefined)) plain = false;
        continue;
      }
      let end = i;
      while (end > valueStart && isSpace(text.charCodeAt(end - 1))) end--;
      spans.push([key, valueStart, end]);
      depths.push(deepest);
      key = undefined;
      valueStart = -1;
    } else if (c === 0x3a && depth === 1 && valueStart < 0) {
      let at = i + 1;
      while (at < n && isSpace(text.charCodeAt(at))) at++;
      valueStart = at;
      deepest = 0;
      if (key === "tools" && !tools && text.charCodeAt(at) === 0x5b) {
        tools = knownToolsAt(text, at);
        if (tools) {
          if (1 + tools.depth > limit) return { tooDeep: true };
          deepest = tools.depth;
          i = at + tools.text.length - 1;
        }
      }
    }
  }
  if (!plain || depth !== 0 || spans.length === 0) return { tooDeep: false };
  // A repeated key: JSON.parse keeps the last, and the spans would not say which; parsed whole.
  if (new Set(spans.map((m) => m[0])).size !== spans.length) return { tooDeep: false };
  return { tooDeep: false, members: spans, depths, tools };
}

/** What parseJsonBody found: a value, or a body nested deeper than the limit. */
export type ParsedBody = { tooDeep: true } | { tooDeep: false; value: unknown };

/**
 * Parses a JSON request body: refuses one nested deeper than `limit` (before anything walks it),
 * remembers its text and the spans of its top-level members (jsonTextOf, serializeLike), and takes
 * a top-level `tools` array whose bytes were seen before from the cache instead of parsing it.
 * @throws SyntaxError for text that is not JSON
 */
export function parseJsonBody(text: string, limit: number): ParsedBody {
  const found = scan(text, limit);
  if (found.tooDeep) return { tooDeep: true };
  const spans = found.members;
  const toolsAt = spans?.findIndex((m) => m[0] === "tools") ?? -1;
  if (!spans || toolsAt < 0) return { tooDeep: false, value: remember(parseJsonKeepingText(text), spans) };
  const [, start, end] = spans[toolsAt]!;
  // The cached text must be the whole value: anything after it before the next member is the parser's to refuse.
  let tools = found.tools && end - start === found.tools.text.length ? found.tools : undefined;
  if (!tools && text.charCodeAt(start) === 0x5b) {
    const toolsText = text.slice(start, end);
    const hash = Bun.hash(toolsText);
    if (sighted.delete(hash)) {
      // Second sighting: parsed on its own (the rest below), frozen and kept.
      const value = JSON.parse(toolsText) as unknown[];
      tools = { text: toolsText, value: deepFreeze(value), depth: found.depths![toolsAt]! };
      texts.set(value, toolsText);
      keep(tools);
    } else {
      sighted.add(hash);
      if (sighted.size > SIGHTED) sighted.delete(sighted.values().next().value!);
    }
  }
  if (!tools) return { tooDeep: false, value: remember(parseJsonKeepingText(text), spans) };
  // The rest of the body with `null` for the tools keeps the members' order; the shared array goes in its place.
  const value = JSON.parse(`${text.slice(0, start)}null${text.slice(end)}`) as Record<string, unknown>;
  value.tools = tools.value;
  texts.set(value, text);
  return { tooDeep: false, value: remember(value, spans) };
}

function remember(value: unknown, spans: [string, number, number][] | undefined): unknown {
  if (spans && value !== null && typeof value === "object" && !Array.isArray(value)) members.set(value, new Map(spans.map(([k, s, e]) => [k, [s, e]])));
  return value;
}

/** JSON text of frozen objects (cached tools), made once each. */
const frozenText = new WeakMap<object, string>();

/** JSON.stringify of `value`, remembered when `value` is frozen (it cannot change). */
export function frozenJson(value: object): string {
  if (!Object.isFrozen(value)) return JSON.stringify(value);
  let text = frozenText.get(value);
  if (text === undefined) frozenText.set(value, (text = JSON.stringify(value)));
  return text;
}

/** JSON text of a member value: cached tools' own text, an array of frozen objects from their remembered texts, else JSON.stringify. */
function memberJson(value: unknown): string | undefined {
  if (value !== null && typeof value === "object") {
    const own = texts.get(value);
    if (own !== undefined) return own;
    if (Array.isArray(value) && value.every((v) => v !== null && typeof v === "object" && Object.isFrozen(v))) return `[${value.map(frozenJson).join(",")}]`;
  }
  return JSON.stringify(value);
}

/**
 * JSON text of `value`, a request made from `original` (a body parseJsonBody returned) by replacing
 * some top-level members: the client's text of every member whose value is still the original's
 * own (identity), serialised members for the rest, in `value`'s key order. Equal as JSON to
 * JSON.stringify(value). Undefined when `original` has no remembered text.
 */
export function serializeLike(value: object, original: object): string | undefined {
  const text = texts.get(original);
  if (text === undefined) return undefined;
  if (value === original) return text;
  const spans = members.get(original);
  if (!spans || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const from = original as Record<string, unknown>;
  const parts: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const span = spans.get(key);
    const json = span && from[key] === v && v !== undefined ? text.slice(span[0], span[1]) : memberJson(v);
    // JSON.stringify leaves out members whose value has no JSON form (undefined, functions).
    if (json !== undefined) parts.push(`${JSON.stringify(key)}:${json}`);
  }
  return `{${parts.join(",")}}`;
}
