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
