/**
 * The mathjs instance behind the `calculator` built-in, made only of the factories it needs
 * (parsing, the operators, the allowed functions, constants and units), so functions such as
 * `evaluate`, `range`, `matrix` or `simplify` do not exist in it at all; the names mathjs adds to
 * every instance are disabled. Imported lazily by calculator.ts on the first call (importing
 * mathjs evaluates its whole package: ~45-57 MiB RSS in the executable).
 */
import * as mathjs from "mathjs";
import { create, type FactoryFunctionMap } from "mathjs";

/** The factories the instance is made of (mathjs docs/custom_bundling), by name: `<name>Dependencies`. */
const FACTORIES = [
  "parse", "add", "subtract", "multiply", "divide", "pow", "mod", "unaryMinus", "unaryPlus",
  "factorial", "to", "equal", "unequal", "smaller", "larger", "smallerEq", "largerEq", "and", "or",
  "not", "xor", "abs", "sqrt", "cbrt", "exp", "expm1", "log", "log10", "log2", "log1p", "round",
  "floor", "ceil", "fix", "sign", "sin", "cos", "tan", "sec", "csc", "cot", "asin", "acos", "atan",
  "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "min", "max", "mean", "median", "sum",
  "prod", "std", "variance", "gcd", "lcm", "hypot", "nthRoot", "gamma", "re", "im", "conj", "arg",
  "format", "unit", "pi", "e", "tau", "phi", "i", "Infinity", "LN2", "LN10", "LOG2E", "LOG10E",
  "SQRT1_2", "SQRT2",
] as const;

/** Names mathjs adds to every instance that an expression must not reach (mathjs docs/expressions/security). */
const DISABLED = ["import", "createUnit", "evaluate", "parse", "compile", "simplify", "derivative", "resolve", "reviver", "replacer"];

/** The restricted mathjs instance: only the factories listed here exist in it (mathjs docs/custom_bundling). */
export const math = create(
  Object.fromEntries(
    FACTORIES.map((name) => {
      const factory = (mathjs as unknown as Record<string, FactoryFunctionMap[string] | undefined>)[`${name}Dependencies`];
      if (!factory) throw new Error(`mathjs has no ${name}Dependencies`);
      return [`${name}Dependencies`, factory];
    }),
  ),
  {},
);

/** mathjs' parser, kept before `parse` is disabled for expressions. */
export const parse = math.parse;

const refused = (name: string) => () => {
  throw new Error(`function ${name} is disabled`);
};
math.import(Object.fromEntries(DISABLED.map((n) => [n, refused(n)])), { override: true });
