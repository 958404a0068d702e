/**
 * The JSON body parser (src/protocol/raw-json.ts): one scan for the depth limit and the top-level
 * members, a `tools` array whose bytes were seen before taken from its cache (frozen, shared), and
 * bodies re-made from the client's text of the members a stage did not replace. It must answer
 * exactly as JSON.parse after a plain depth count would, on any text.
 */
import { describe, expect, test } from "bun:test";
import { jsonTextOf, parseJsonBody, serializeLike } from "../src/protocol/raw-json.ts";

/** What the parser must agree with: a bracket count outside strings, then JSON.parse. */
function reference(text: string, limit: number): string {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      if (++depth > limit) return "too deep";
    } else if (c === "]" || c === "}") depth--;
  }
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return "not JSON";
  }
}

function parsed(text: string, limit: number): string {
  try {
    const result = parseJsonBody(text, limit);
    return result.tooDeep ? "too deep" : JSON.stringify(result.value);
  } catch {
    return "not JSON";
  }
}

const value = (text: string, limit = 64) => (parseJsonBody(text, limit) as { value: any }).value;
/** A body with `tools`, parsed three times: the first two parse it, the second keeps it, the third takes it from the cache. */
const thrice = (text: string, limit = 64) => [value(text, limit), value(text, limit), value(text, limit)];

describe("JSON body parser", () => {
  test("agrees with a depth count and JSON.parse on 30,000 random bodies of JSON fragments (tools repeated, so cached ones are hit)", () => {
    const fragments = ['"a"', '"tools"', '"t\\\\"', '"\\""', "1", "[", "]", "{", "}", ",", ":", " ", "\n", "null", '[{"a":[1]}]', '[{"a":[1]}] ', '"x\\\\\\""'];
    // A fixed linear congruential generator: the same bodies every run.
    let seed = 42;
    const next = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n);
    for (let t = 0; t < 30_000; t++) {
      let text = next(2) ? '{"tools":' : "";
      for (let k = 1 + next(14); k > 0; k--) text += fragments[next(fragments.length)];
      if (next(2)) text += "}";
      const limit = 1 + next(4);
      expect({ text, limit, got: parsed(text, limit) }).toEqual({ text, limit, got: reference(text, limit) });
    }
  });

  test("a tools array seen twice comes from the cache: the same frozen array, its text remembered, the rest parsed anew", () => {
    const tools = `[{"type":"function","function":{"name":"x-${crypto.randomUUID()}","parameters":{"type":"object"}}}]`;
    const body = (user: string) => `{"model":"m","messages":[{"role":"user","content":"${user}"}],"tools":${tools},"stream":false}`;
    const [a, b, c] = [value(body("one")), value(body("two")), value(body("three"))];
    expect(Object.isFrozen(a.tools)).toBe(false);
    expect(b.tools).toBe(c.tools);
    expect(Object.isFrozen(c.tools) && Object.isFrozen(c.tools[0].function.parameters)).toBe(true);
    expect(jsonTextOf(c.tools)).toBe(tools);
    expect(c).toEqual(JSON.parse(body("three")));
    expect(Object.keys(c)).toEqual(["model", "messages", "tools", "stream"]);
  });

  test("the depth limit holds for cached tools: the same tools under a lower limit are too deep", () => {
    const tools = `[{"type":"function","function":{"name":"deep-${crypto.randomUUID()}","parameters":${"[".repeat(10)}${"]".repeat(10)}}}]`;
    const body = `{"messages":[],"tools":${tools}}`;
    thrice(body, 64);
    expect(parseJsonBody(body, 14).tooDeep).toBe(false);
    expect(parseJsonBody(body, 13).tooDeep).toBe(true);
  });

  test("text after cached tools, a repeated key, an escaped key: the same answer as JSON.parse", () => {
    const tools = `[{"n":"${crypto.randomUUID()}"}]`;
    thrice(`{"tools":${tools}}`);
    expect(() => parseJsonBody(`{"tools":${tools}]}`, 64)).toThrow(SyntaxError);
    expect(() => parseJsonBody(`{"tools":${tools} 1}`, 64)).toThrow(SyntaxError);
    expect(value(`{"tools":${tools},"tools":[2]}`)).toEqual({ tools: [2] });
    expect(value(`{"tools":[2],"tools":${tools}}`)).toEqual(JSON.parse(tools === "" ? "" : `{"tools":${tools}}`));
    expect(value(`{"t\\u006fols":${tools}}`)).toEqual({ tools: JSON.parse(tools) });
  });

  test("serializeLike: the client's text of unchanged members, the rest serialised, equal as JSON to JSON.stringify", () => {
    const text = `{ "model" : "m",\n "messages": [ {"role": "user", "content": "h\\u00e9"} ], "temperature": 0.50, "tools": [{"a": 1}, {"b": 2}] }`;
    const original = value(text);
    expect(serializeLike(original, original)).toBe(text);
    const sent = { ...original, model: "upstream-model", tools: [original.tools[1]], temperature: undefined };
    const out = serializeLike(sent, original)!;
    expect(out).toBe(`{"model":"upstream-model","messages":[ {"role": "user", "content": "h\\u00e9"} ],"tools":[{"b":2}]}`);
    expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(sent)));
    expect(serializeLike({ model: "m" }, { model: "m" })).toBeUndefined();
  });
});
