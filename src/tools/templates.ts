/**
 * System prompt templates: `{{tool_name(arg="value", n=10, x=1.5, on=true, none=null)}}` is replaced
 * at request time by the result of that proxy-owned tool.
 *
 * Grammar (a hand-written recursive-descent parser, no regular expressions, no eval):
 *
 *   template := "{{" ws name ws "(" ws [ arg ( ws "," ws arg )* ws [","] ] ws ")" ws "}}"
 *   arg      := name ws "=" ws value
 *   value    := string | number | "true" | "false" | "null"
 *   string   := '"' chars '"' | "'" chars "'"   (escapes \" \' \\ \/ \n \r \t \b \f \uXXXX)
 *   number   := ["-"] digits ["." digits] [("e"|"E") ["+"|"-"] digits]
 *   name     := (letter | "_") (letter | digit | "_" | "-" | ".")*
 *
 * `{{` not followed by `name(` is plain text (prompts may hold other brace syntax); once `name(`
 * is seen the rest must parse, or the prompt is refused with the offset and what was expected.
 */

export interface TemplateCall {
  tool: string;
  args: Record<string, string | number | boolean | null>;
  /** The template's text as written, for logs. */
  source: string;
}

/** A prompt split into literal text and template calls, in order. */
export type TemplatePart = string | TemplateCall;

/** A prompt template that does not parse; `offset` is the index (UTF-16 code units) in the prompt where it went wrong. */
export class TemplateSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`template at offset ${offset}: ${message}`);
  }
}

const isNameStart = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
const isNameChar = (c: string) => isNameStart(c) || (c >= "0" && c <= "9") || c === "-" || c === ".";
const isDigit = (c: string) => c >= "0" && c <= "9";
const ESCAPES: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", "/": "/", n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };

class Parser {
  pos: number;
  constructor(
    readonly text: string,
    start: number,
  ) {
    this.pos = start;
  }

  get char(): string {
    return this.text[this.pos] ?? "";
  }

  fail(expected: string): never {
    const found = this.pos < this.text.length ? JSON.stringify(this.text.slice(this.pos, this.pos + 10)) : "the end of the prompt";
    throw new TemplateSyntaxError(`expected ${expected}, found ${found}`, this.pos);
  }

  ws(): void {
    while (this.char === " " || this.char === "\t" || this.char === "\n" || this.char === "\r") this.pos++;
  }

  eat(token: string): boolean {
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  expect(token: string): void {
    if (!this.eat(token)) this.fail(`'${token}'`);
  }

  name(): string | undefined {
    if (!isNameStart(this.char)) return undefined;
    const start = this.pos;
    while (isNameChar(this.char)) this.pos++;
    return this.text.slice(start, this.pos);
  }

  string(quote: string): string {
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.char;
      if (c === "") this.fail(`a closing ${quote}`);
      this.pos++;
      if (c === quote) return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.char;
      if (e === "u") {
        const hex = this.text.slice(this.pos + 1, this.pos + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("four hex digits after \\u");
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 5;
      } else if (ESCAPES[e] !== undefined) {
        out += ESCAPES[e];
        this.pos++;
      } else {
        this.fail("an escape (\\\" \\' \\\\ \\n \\t \\uXXXX ...)");
      }
    }
  }

  number(): number {
    const start = this.pos;
    this.eat("-");
    if (!isDigit(this.char)) this.fail("a digit");
    while (isDigit(this.char)) this.pos++;
    if (this.eat(".")) {
      if (!isDigit(this.char)) this.fail("a digit after '.'");
      while (isDigit(this.char)) this.pos++;
    }
    if (this.eat("e") || this.eat("E")) {
      if (!this.eat("+")) this.eat("-");
      if (!isDigit(this.char)) this.fail("an exponent");
      while (isDigit(this.char)) this.pos++;
    }
    return Number(this.text.slice(start, this.pos));
  }

  value(): string | number | boolean | null {
    const c = this.char;
    if (c === '"' || c === "'") return this.string(c);
    if (c === "-" || isDigit(c)) return this.number();
    const word = this.name();
    if (word === "true") return true;
    if (word === "false") return false;
    if (word === "null") return null;
    if (word !== undefined) this.pos -= word.length;
    return this.fail("a string, number, true, false or null");
  }

  /** After `{{ name (`: the arguments and the closing `) }}`. */
  args(): TemplateCall["args"] {
    const args: TemplateCall["args"] = {};
    this.ws();
    while (!this.eat(")")) {
      const at = this.pos;
      const key = this.name() ?? this.fail("an argument name or ')'");
      if (Object.hasOwn(args, key)) throw new TemplateSyntaxError(`argument '${key}' given twice`, at);
      this.ws();
      this.expect("=");
      this.ws();
      args[key] = this.value();
      this.ws();
      if (this.eat(",")) this.ws();
      else if (this.char !== ")") this.fail("',' or ')'");
    }
    this.ws();
    this.expect("}}");
    return args;
  }
}

/**
 * Splits `text` into literal parts and template calls.
 * @throws TemplateSyntaxError for a template that starts as a call (`{{name(`) but does not parse
 */
export function parseTemplates(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("{{", i);
    if (open < 0) break;
    const parser = new Parser(text, open + 2);
    parser.ws();
    const tool = parser.name();
    parser.ws();
    if (tool === undefined || parser.char !== "(") {
      literal += text.slice(i, open + 2);
      i = open + 2;
      continue;
    }
    parser.pos++;
    const args = parser.args();
    literal += text.slice(i, open);
    if (literal) parts.push(literal);
    literal = "";
    parts.push({ tool, args, source: text.slice(open, parser.pos) });
    i = parser.pos;
  }
  literal += text.slice(i);
  if (literal) parts.push(literal);
  return parts;
}

/**
 * Renders `parts`, running every call concurrently through `run`. A call that rejects or whose
 * result is an error is replaced by `[unavailable: <reason>]` and reported to `onFailure`; the
 * prompt is always rendered.
 */
export async function renderTemplates(
  parts: readonly TemplatePart[],
  run: (call: TemplateCall) => Promise<{ content: string; isError?: boolean }>,
  onFailure: (call: TemplateCall, reason: string) => void,
): Promise<string> {
  const texts = await Promise.all(
    parts.map(async (part) => {
      if (typeof part === "string") return part;
      let reason: string;
      try {
        const result = await run(part);
        if (!result.isError) return result.content;
        reason = errorText(result.content);
      } catch (err) {
        reason = (err as Error)?.message ?? String(err);
      }
      onFailure(part, reason);
      return `[unavailable: ${part.tool}: ${reason.slice(0, 120)}]`;
    }),
  );
  return texts.join("");
}

/** The message of an `{"error": ...}` result, or the text itself. */
function errorText(content: string): string {
  try {
    const parsed = JSON.parse(content) as { error?: unknown };
    if (typeof parsed?.error === "string") return parsed.error;
  } catch {
    // plain text
  }
  return content;
}
