/**
 * Request bodies for fuzzing the two fronts, deterministic from a seed: well-formed requests mutated
 * (fields dropped, types swapped, values replaced at random depths), bodies nested up to 100,000
 * deep, long strings without spaces, tools without names or text, invalid JSON (cut, random bytes,
 * lone surrogates, NaN), non-object bodies. Used by bench/fuzz.ts (10,000 per front) and
 * test/fuzz.test.ts (a few hundred, fast). Seeded with the project's PRNG, so a failing case can be
 * replayed from its seed and index.
 */
import { seededRandom } from "../../src/compression/random-drop.ts";

export type Front = "openai" | "ollama";

export interface FuzzCase {
  front: Front;
  path: string;
  /** What was done to the body, for the report. */
  kind: string;
  body: string;
  headers: Record<string, string>;
}

export interface FuzzOptions {
  /** Longest run of characters without a space in generated strings (16,000 in the bench). */
  maxRunLength: number;
  /** Deepest nesting generated (100,000 in the bench). */
  maxDepth: number;
  /** The model the requests name. */
  model: string;
}

/** Stands for a deeply nested value, put in as text after JSON.stringify (see nestedText). */
const DEEP = "\u0000deep\u0000";
const DEEP_JSON = JSON.stringify(DEEP);

const TOOL_NAMES = ["HassTurnOn", "HassTurnOff", "HassLightSet", "HassStartTimer", "GetLiveContext", "HassMediaPause", "todo_add", "mcp_weather_get", "HassClimateSetTemperature", "HassCancelTimer"];

/** Generates fuzz cases for one front. */
export class FuzzBodies {
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly options: FuzzOptions,
  ) {
    this.random = seededRandom(seed);
  }

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** A nesting depth from 1 to maxDepth, log-uniform: as many cases near the limit as far past it. */
  private depth(): number {
    return Math.max(1, Math.floor(Math.exp(this.random() * Math.log(this.options.maxDepth))));
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  private text(): string {
    const r = this.random();
    if (r < 0.4) return this.pick(["turn on the kitchen light", "what's the weather", "", " ", "set a timer for 5 minutes", "Grüße 世界 🙂", "\u0000\u0001", "a\nb\r\nc"]);
    if (r < 0.6) return this.pick(["d", "x", "é", "🙂", "ab"]).repeat(1 + this.int(this.options.maxRunLength));
    if (r < 0.8) return Array.from({ length: 1 + this.int(200) }, () => this.pick(["light", "on", "off", "the", "timer", "?", "'quoted'", "Hass"])).join(" ");
    return String.fromCharCode(...Array.from({ length: 1 + this.int(64) }, () => this.int(0x2fff)));
  }

  private scalar(): unknown {
    return this.pick([null, true, false, 0, -1, 1e308, -1e-308, 2 ** 53 + 1, 3.14, "", "x", [], {}, this.text()]);
  }

  /** `leaf` (JSON text) inside `depth` arrays or objects, as text: deep values are never built as objects. */
  private nestedText(depth: number, leaf: string): string {
    return this.random() < 0.5 ? "[".repeat(depth) + leaf + "]".repeat(depth) : '{"a":'.repeat(depth) + leaf + "}".repeat(depth);
  }

  private nested(depth: number, leaf: unknown): unknown {
    let value = leaf;
    const asArray = this.random() < 0.5;
    for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
    return value;
  }

  private schema(depth = 0): Record<string, unknown> {
    if (depth > 3 || this.random() < 0.3) return { type: this.pick(["string", "integer", "number", "boolean", "array", "object", 7, null]), description: this.text(), enum: this.random() < 0.2 ? [this.text(), this.text()] : undefined };
    const properties: Record<string, unknown> = {};
    for (let i = this.int(4); i >= 0; i--) properties[this.pick(["name", "area", "brightness", "minutes", "", "__proto__", "constructor", this.text().slice(0, 20)])] = this.schema(depth + 1);
    return { type: "object", properties, required: this.random() < 0.5 ? Object.keys(properties) : undefined };
  }

  private tool(): unknown {
    const r = this.random();
    if (r < 0.1) return { type: "function", function: { name: "_" } };
    if (r < 0.15) return { type: "function", function: { name: "" , description: "" } };
    if (r < 0.2) return { type: "function", function: { name: this.pick(TOOL_NAMES), description: "d".repeat(1 + this.int(this.options.maxRunLength)) } };
    if (r < 0.25) return { type: "function", function: { name: "deep", parameters: DEEP } };
    if (r < 0.3) return this.scalar();
    return { type: "function", function: { name: this.random() < 0.8 ? this.pick(TOOL_NAMES) : this.text().slice(0, 64), description: this.text(), parameters: this.schema() } };
  }

  private messages(front: Front): unknown[] {
    const out: unknown[] = [];
    for (let i = this.int(6); i >= 0; i--) {
      const role = this.pick(["system", "user", "assistant", "tool", "user", "user", "developer", "", "nobody"]);
      const message: Record<string, unknown> = { role, content: this.random() < 0.85 ? this.text() : this.scalar() };
      if (front === "openai" && this.random() < 0.1) message.content = [{ type: "text", text: this.text() }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }];
      if (role === "assistant" && this.random() < 0.3) {
        const args = this.random() < 0.5 ? JSON.stringify({ name: this.text().slice(0, 30) }) : this.text();
        message.tool_calls = [front === "openai" ? { id: "call_1", type: "function", function: { name: this.pick(TOOL_NAMES), arguments: args } } : { function: { name: this.pick(TOOL_NAMES), arguments: this.random() < 0.7 ? { name: "x" } : args } }];
      }
      if (role === "tool") Object.assign(message, front === "openai" ? { tool_call_id: this.random() < 0.7 ? "call_1" : "nope" } : { tool_name: this.pick(TOOL_NAMES) });
      if (front === "ollama" && this.random() < 0.05) message.images = [this.random() < 0.5 ? "AAAA" : this.text()];
      out.push(message);
    }
    return out;
  }

  /** A well-formed request of `front`, before mutation. */
  private request(front: Front): Record<string, unknown> {
    const body: Record<string, unknown> = { model: this.random() < 0.9 ? this.options.model : this.text().slice(0, 40), messages: this.messages(front), stream: this.random() < 0.5 };
    if (this.random() < 0.7) body.tools = Array.from({ length: this.int(30) }, () => this.tool());
    if (front === "openai") {
      if (this.random() < 0.3) body.tool_choice = this.pick(["auto", "none", "required", { type: "function", function: { name: "HassTurnOn" } }, 5]);
      if (this.random() < 0.3) body.max_tokens = this.scalar();
      if (this.random() < 0.2) body.stream_options = { include_usage: this.scalar() };
      if (this.random() < 0.2) body.response_format = this.pick([{ type: "json_object" }, { type: "json_schema", json_schema: { name: "x", schema: this.schema() } }, "text"]);
    } else {
      if (this.random() < 0.3) body.options = { temperature: this.scalar(), num_ctx: this.scalar(), stop: this.scalar() };
      if (this.random() < 0.2) body.format = this.pick(["json", this.schema(), 1]);
      if (this.random() < 0.2) body.think = this.scalar();
      if (this.random() < 0.2) body.keep_alive = this.scalar();
    }
    return body;
  }

  /** Replaces, drops or adds one value somewhere in `value` (walked at most 6 levels down). */
  private mutate(value: unknown, depth = 0): unknown {
    if (value === null || typeof value !== "object" || depth > 6 || this.random() < 0.25) {
      return this.pick([this.scalar(), this.nested(1 + this.int(50), this.scalar()), undefined]);
    }
    const copy: any = Array.isArray(value) ? [...value] : { ...value };
    const keys = Object.keys(copy);
    if (keys.length === 0 || this.random() < 0.1) {
      copy[Array.isArray(copy) ? copy.length : this.pick(["extra", "__proto__", "model", "messages", "tools"])] = this.scalar();
      return copy;
    }
    const key = this.pick(keys);
    const next = this.mutate(copy[key], depth + 1);
    if (next === undefined && !Array.isArray(copy)) delete copy[key];
    else copy[key] = next;
    return copy;
  }

  /** Invalid or odd JSON text. */
  private brokenText(front: Front): string {
    const valid = JSON.stringify(this.request(front));
    const cuts = [
      () => valid.slice(0, this.int(valid.length)),
      () => valid.replace(/"/, ""),
      () => "[".repeat(this.depth()),
      () => "{\"a\":".repeat(this.depth()),
      () => String.fromCharCode(...Array.from({ length: this.int(512) }, () => this.int(256))),
      () => `\ufeff${valid}`,
      () => valid.replace(/"content":"/, '"content":"\\ud800'),
      () => '{"model":NaN,"messages":[]}',
      () => "",
      () => "null",
      () => JSON.stringify(this.scalar()),
      () => `${valid}${valid}`,
      () => valid.replace(/:/g, ": ".repeat(1 + this.int(3))),
    ];
    return this.pick(cuts)();
  }

  /** The next case for `front`. */
  next(front: Front): FuzzCase {
    const path = front === "openai" ? "/v1/chat/completions" : this.random() < 0.85 ? "/api/chat" : "/api/generate";
    const headers: Record<string, string> = { "content-type": this.random() < 0.95 ? "application/json" : this.pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) };
    const r = this.random();
    let kind: string;
    let body: string;
    if (r < 0.15) {
      kind = "valid";
      body = JSON.stringify(this.request(front));
    } else if (r < 0.65) {
      kind = "mutated";
      let value: unknown = this.request(front);
      for (let i = 1 + this.int(3); i > 0; i--) value = this.mutate(value);
      body = JSON.stringify(value) ?? "";
    } else if (r < 0.75) {
      kind = "deep";
      const request = this.request(front);
      const where = this.pick(["content", "tools", "extra"]);
      if (where === "content") request.messages = [{ role: "user", content: DEEP }];
      else if (where === "tools") request.tools = [{ type: "function", function: { name: "deep", parameters: DEEP } }];
      else request.extra = DEEP;
      body = JSON.stringify(request);
    } else {
      kind = "broken";
      body = this.brokenText(front);
    }
    if (path === "/api/generate" && kind !== "broken") {
      try {
        const parsed = JSON.parse(body);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
          parsed.prompt = this.random() < 0.8 ? this.text() : this.scalar();
          delete parsed.messages;
          body = JSON.stringify(parsed);
        }
      } catch {
        // stays as it is
      }
    }
    // Every placeholder becomes a deep value; only the first is deep (the body limit holds the rest).
    if (body.includes(DEEP_JSON)) {
      body = body.replace(DEEP_JSON, this.nestedText(this.depth(), '"x"')).replaceAll(DEEP_JSON, this.nestedText(1 + this.int(20), "1"));
    }
    return { front, path, kind, body, headers };
  }
}

/** True when `body` is an error in `front`'s protocol: OpenAI `{error:{message,type,param,code}}`, Ollama `{error: string}`. */
export function isProtocolError(front: Front, body: string): boolean {
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {
    return false;
  }
  if (front === "ollama") return typeof json?.error === "string" && json.error.length > 0;
  const e = json?.error;
  return !!e && typeof e.message === "string" && typeof e.type === "string" && "param" in e && "code" in e;
}

export interface FuzzOutcome {
  fuzz: FuzzCase;
  status: number;
  ms: number;
  /** What is wrong with the reply, if anything: a 5xx, an error not in the front's protocol, a body that could not be read. */
  problem?: string;
}

/**
 * Sends `fuzz` to the proxy at `url` and reads the whole reply. The fake upstreams behind the
 * fuzzers never fail, so any 5xx is the proxy's own.
 */
export async function sendFuzzCase(url: string, fuzz: FuzzCase, apiKey: string): Promise<FuzzOutcome> {
  const started = performance.now();
  let status = 0;
  let text = "";
  try {
    const res = await fetch(url + fuzz.path, { method: "POST", headers: { ...fuzz.headers, authorization: `Bearer ${apiKey}` }, body: fuzz.body });
    status = res.status;
    text = await res.text();
  } catch (err) {
    return { fuzz, status, ms: performance.now() - started, problem: `no complete reply: ${(err as Error).message}` };
  }
  const ms = performance.now() - started;
  if (status >= 500) return { fuzz, status, ms, problem: `HTTP ${status}: ${text.slice(0, 300)}` };
  if (status >= 400 && !isProtocolError(fuzz.front, text)) return { fuzz, status, ms, problem: `error not in the ${fuzz.front} shape: ${text.slice(0, 300)}` };
  return { fuzz, status, ms };
}
