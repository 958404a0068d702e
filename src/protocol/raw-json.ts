/**
 * JSON request bodies that remember the exact text they were parsed from, so that a request the
 * proxy does not change is forwarded as the client's own bytes instead of being serialised again.
 * (JSON.stringify of a Home Assistant request with 34 tools costs more than the rest of the
 * proxy's work on it; see docs/benchmarks.md.) The text is keyed by the parsed object: a stage that
 * changes the request makes a new object, which has none, and is serialised as before.
 */
const texts = new WeakMap<object, string>();

/** JSON.parse that remembers `text` for the parsed object or array. @throws SyntaxError */
export function parseJsonKeepingText(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (value !== null && typeof value === "object") texts.set(value, text);
  return value;
}

/** The text `value` was parsed from, when it is the very object parseJsonKeepingText returned. */
export function jsonTextOf(value: object): string | undefined {
  return texts.get(value);
}

/**
 * True when `text` nests arrays and objects deeper than `limit` levels (brackets inside strings do
 * not count). One pass over the text, no recursion and no allocation: it runs before JSON.parse so
 * that nothing recursive (parsing, validation and its error messages, logging) ever sees a body
 * nested deeper than the limit. Malformed JSON is not judged here; JSON.parse does that.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
