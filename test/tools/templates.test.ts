import { expect, test } from "bun:test";
import { parseTemplates, renderTemplates, TemplateSyntaxError } from "../../src/tools/templates.ts";

test("parses calls with every value kind, quotes and escapes, and keeps the text around them", () => {
  const parts = parseTemplates(`Now: {{ get_current_time(timezone="Europe/Berlin", format='human') }}.\nSum {{calc(n=10, x=-1.5e2, on=true, off=false, none=null, s="a\\"b\\n\\u00e9", t='it\\'s',)}}!`);
  expect(parts).toEqual([
    "Now: ",
    { tool: "get_current_time", args: { timezone: "Europe/Berlin", format: "human" }, source: `{{ get_current_time(timezone="Europe/Berlin", format='human') }}` },
    ".\nSum ",
    { tool: "calc", args: { n: 10, x: -150, on: true, off: false, none: null, s: 'a"b\né', t: "it's" }, source: expect.any(String) },
    "!",
  ]);
});

test("brace syntax that is not a call stays text; a call with no arguments parses", () => {
  expect(parseTemplates("{{ user }} and {{#if x}} and {{ }} and {{")).toEqual(["{{ user }} and {{#if x}} and {{ }} and {{"]);
  expect(parseTemplates("{{now()}}")).toEqual([{ tool: "now", args: {}, source: "{{now()}}" }]);
});

test("a broken call is refused with its offset and what was expected", () => {
  const cases: [string, string][] = [
    ['{{t(a="x)}}', "expected a closing \""],
    ["{{t(a=1 b=2)}}", "expected ',' or ')'"],
    ["{{t(a=)}}", "expected a string, number, true, false or null"],
    ["{{t(a=yes)}}", "expected a string, number, true, false or null"],
    ["{{t(a=1)", "expected '}}'"],
    ["{{t(a=1, a=2)}}", "argument 'a' given twice"],
    ['{{t(a="\\q")}}', "expected an escape"],
    ["{{t(a=1.)}}", "expected a digit after '.'"],
  ];
  for (const [text, message] of cases) {
    expect(() => parseTemplates(text)).toThrow(TemplateSyntaxError);
    expect(() => parseTemplates(text)).toThrow(message);
  }
});

test("render runs every call concurrently; a failing one becomes [unavailable: ...] and is reported", async () => {
  const parts = parseTemplates("A={{slow(ms=50)}} B={{slow(ms=50)}} C={{broken()}} D={{errs()}}");
  const failures: string[] = [];
  let running = 0;
  let peak = 0;
  const text = await renderTemplates(
    parts,
    async (call) => {
      running++;
      peak = Math.max(peak, running);
      await Bun.sleep(Number(call.args.ms ?? 1));
      running--;
      if (call.tool === "broken") throw new Error("no such tool");
      if (call.tool === "errs") return { content: JSON.stringify({ error: "device offline" }), isError: true };
      return { content: `ok${call.args.ms}` };
    },
    (call, reason) => failures.push(`${call.tool}: ${reason}`),
  );
  expect(text).toBe("A=ok50 B=ok50 C=[unavailable: broken: no such tool] D=[unavailable: errs: device offline]");
  expect(peak).toBe(4);
  expect(failures).toEqual(["broken: no such tool", "errs: device offline"]);
});
