import { expect, test } from "bun:test";
import { calculate, CalculatorError, MAX_EXPRESSION_LENGTH } from "../../src/tools/builtins/calculator.ts";

const TABLE: [string, string][] = [
  ["2 + 3 * 4", "14"],
  ["(2 + 3) * 4", "20"],
  ["2^10", "1024"],
  ["10 / 4", "2.5"],
  ["7 % 3", "1"],
  ["-3 + 1", "-2"],
  ["1e3 + 1", "1001"],
  ["sqrt(16)", "4"],
  ["sqrt(2)", "1.4142135623731"],
  ["cbrt(27)", "3"],
  ["abs(-4.5)", "4.5"],
  ["round(100 / 7, 2)", "14.29"],
  ["floor(2.7) + ceil(2.1)", "5"],
  ["max(1, 5, 3) - min(4, 2)", "3"],
  ["mean(2, 4, 6)", "4"],
  ["sin(pi / 2)", "1"],
  ["cos(0)", "1"],
  ["log(e)", "1"],
  ["log10(1000)", "3"],
  ["10!", "3628800"],
  ["factorial(5)", "120"],
  ["hypot(3, 4)", "5"],
  ["gcd(12, 18) + lcm(4, 6)", "18"],
  ["5 km to mile", "3.1068559611867 mile"],
  ["100 degF to degC", "37.777777777778 degC"],
  ["sqrt(-1)", "i"],
  ["1 / 0", "Infinity"],
  ["2 > 1", "true"],
  ["1 < 2 ? 10 : 20", "10"],
  ["0.1 + 0.2", "0.3"],
];

test("calculator: a table of expressions gives the expected values", async () => {
  for (const [expression, expected] of TABLE) expect([expression, await calculate(expression)]).toEqual([expression, expected]);
});

const REFUSED = [
  "1:1e9", // a range would allocate a billion numbers
  "zeros(100000, 100000)",
  "[1, 2, 3]",
  "a = 3",
  "f(x) = f(x) + 1",
  "1; 2",
  "{a: 1}",
  "import({}, {override: true})",
  "createUnit('foo')",
  "evaluate('1 + 1')",
  "parse('1').compile()",
  "cos.constructor('globalThis.__pwned = 1')()",
  "\"\".constructor.constructor('globalThis.__pwned = 1')()",
  "constructor",
  "__proto__",
  "process.exit(1)",
  "eval('1')",
  "Function('return 1')()",
  "globalThis",
  "combinations(1e15, 5e14)",
  "x + 1",
  "1 +",
  "",
  "9".repeat(MAX_EXPRESSION_LENGTH + 1),
];

test("calculator: what is not arithmetic is refused with a CalculatorError, before anything runs", async () => {
  for (const expression of REFUSED) {
    let error: unknown;
    try {
      await calculate(expression);
    } catch (err) {
      error = err;
    }
    expect([expression, error instanceof CalculatorError]).toEqual([expression, true]);
  }
  expect((globalThis as Record<string, unknown>).__pwned).toBeUndefined();
});

/** A small seeded PRNG (mulberry32), so a failing input can be reproduced. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "1", "0", "2.5", "1e308", "-", "+", "*", "/", "^", "%", "!", "(", ")", "(", ")", ",", " ", "pi", "e", "i",
  "sqrt", "sin", "log", "max", "factorial", "round", "cm", "to", "inch", "?", ":", "<", "==", "=", ";", "[", "]",
  "{", "}", ".", "'", '"', "\\", "constructor", "__proto__", "prototype", "this", "globalThis", "process",
  "require", "eval", "Function", "import", "evaluate", "parse", "createUnit", "range", "zeros", "map", "x",
  "f(x)=", "`", "$", "\n", "∞", "😀",
];

const pick = <T>(random: () => number, list: readonly T[]) => list[Math.floor(random() * list.length)]!;

/** A random well-formed arithmetic expression (numbers, operators, functions), `depth` levels deep at most. */
function arithmetic(random: () => number, depth: number): string {
  const r = random();
  if (depth === 0 || r < 0.3) return pick(random, ["0", "1", "2", "3.5", "-7", "1e-3", "1e20", "pi", "e", "100"]);
  if (r < 0.6) return `${arithmetic(random, depth - 1)} ${pick(random, ["+", "-", "*", "/", "^", "%"])} ${arithmetic(random, depth - 1)}`;
  if (r < 0.8) return `${pick(random, ["sqrt", "abs", "sin", "log", "round", "floor", "exp", "factorial"])}(${arithmetic(random, depth - 1)})`;
  if (r < 0.9) return `max(${arithmetic(random, depth - 1)}, ${arithmetic(random, depth - 1)})`;
  return `(${arithmetic(random, depth - 1)})`;
}

test("calculator: 10,000 fuzzed inputs never crash, hang or run code", async () => {
  const random = prng(20261128);
  let values = 0;
  for (let n = 0; n < 10_000; n++) {
    // Half token soup (attacks and syntax errors), half well-formed arithmetic with a token spliced in.
    let expression = "";
    if (n % 2 === 0) {
      const length = 1 + Math.floor(random() * 12);
      for (let k = 0; k < length; k++) expression += pick(random, TOKENS);
    } else {
      expression = arithmetic(random, 4);
      if (random() < 0.3) {
        const at = Math.floor(random() * expression.length);
        expression = expression.slice(0, at) + pick(random, TOKENS) + expression.slice(at);
      }
    }
    try {
      expect(typeof (await calculate(expression))).toBe("string");
      values++;
    } catch (err) {
      if (!(err instanceof CalculatorError)) throw new Error(`input ${JSON.stringify(expression)} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    }
  }
  expect((globalThis as Record<string, unknown>).__pwned).toBeUndefined();
  // The generator must produce valid arithmetic too, or the fuzzing only tests the parser's errors.
  expect(values).toBeGreaterThan(3000);
});
