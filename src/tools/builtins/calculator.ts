/**
 * The `calculator` built-in: arithmetic and common functions, evaluated by mathjs (mathjs.org),
 * never by JavaScript (`eval`/`Function`).
 *
 * mathjs' own security advice (docs/expressions/security) is to disable `import`, `createUnit`,
 * `evaluate`, `parse` and friends; the instance (math-engine.ts) is built from the few factories
 * the calculator needs and disables those, and beyond it we only evaluate expression trees whose
 * every node is of an allowed kind (numbers, operators, parentheses, `a ? b : c`, comparisons,
 * constants, units, and calls of the functions in FUNCTIONS). Ranges (`1:1e9`), matrices,
 * assignments, function definitions and blocks are refused before anything runs: they can allocate
 * without bound or loop, and a synchronous evaluation cannot be interrupted by a timeout.
 *
 * mathjs is loaded on the first call, so a proxy that never computes (or a Raspberry Pi) does not
 * pay for it at start (see docs/augmented-models.md for what it costs).
 */
import type { MathJsInstance, MathNode } from "mathjs";
import type { Tool } from "../../protocol/openai.ts";

/** Longest expression accepted, characters: a question's arithmetic fits many times over. */
export const MAX_EXPRESSION_LENGTH = 1000;

/** Functions a model may call: pure, bounded in time by their arguments' size. */
const FUNCTIONS = new Set([
  "abs", "sqrt", "cbrt", "exp", "expm1", "log", "log10", "log2", "log1p", "pow", "round", "floor", "ceil", "fix",
  "sign", "sin", "cos", "tan", "sec", "csc", "cot", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
  "asinh", "acosh", "atanh", "min", "max", "mean", "median", "sum", "prod", "std", "variance", "mod", "gcd",
  "lcm", "hypot", "nthRoot", "factorial", "gamma", "re", "im", "conj", "arg",
]);

const CONSTANTS = new Set(["pi", "e", "tau", "phi", "i", "Infinity", "NaN", "true", "false", "LN2", "LN10", "LOG2E", "LOG10E", "SQRT1_2", "SQRT2"]);

/** Node kinds that evaluate in time bounded by the expression's length. */
const NODE_TYPES = new Set(["ConstantNode", "SymbolNode", "OperatorNode", "ParenthesisNode", "FunctionNode", "ConditionalNode", "RelationalNode"]);

let engine: Promise<typeof import("./math-engine.ts")> | undefined;

/** The mathjs instance, loaded on first use. */
function load() {
  engine ??= import("./math-engine.ts");
  return engine;
}

/** A refused expression: the message names what is not allowed. */
export class CalculatorError extends Error {}

/** Checks every node of `tree`. @throws CalculatorError naming the first node not allowed */
function check(tree: MathNode, math: MathJsInstance): void {
  tree.traverse((node, _path, parent) => {
    if (!NODE_TYPES.has(node.type)) throw new CalculatorError(`${node.type.replace(/Node$/, "").toLowerCase()} expressions are not supported`);
    if (node.type === "FunctionNode") {
      const fn = (node as unknown as { fn: MathNode & { name?: string } }).fn;
      if (fn.type !== "SymbolNode" || !FUNCTIONS.has(fn.name ?? "")) throw new CalculatorError(`unknown function ${fn.name ?? fn.toString()}`);
    } else if (node.type === "SymbolNode" && !(parent?.type === "FunctionNode" && (parent as unknown as { fn: MathNode }).fn === node)) {
      const name = (node as unknown as { name: string }).name;
      if (!CONSTANTS.has(name) && !math.Unit.isValuelessUnit(name)) throw new CalculatorError(`unknown name ${name}`);
    }
  });
}

/**
 * Evaluates `expression`.
 * @returns the result as text (numbers to 14 significant digits, units and complex numbers as mathjs writes them)
 * @throws CalculatorError for refused or malformed expressions and evaluation errors
 */
export async function calculate(expression: string): Promise<string> {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new CalculatorError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const { math, parse } = await load();
  let tree: MathNode;
  try {
    tree = parse(expression);
  } catch (err) {
    throw new CalculatorError(`cannot parse: ${(err as Error).message}`);
  }
  check(tree, math);
  try {
    const value: unknown = tree.compile().evaluate({});
    if (typeof value === "function" || value === undefined) throw new Error("the expression has no value");
    // Plain notation from 1e-9 to 1e15 ("3628800", not "3.6288e+6"): what people read and say.
    return math.format(value as number, { precision: 14, lowerExp: -9, upperExp: 15 });
  } catch (err) {
    throw new CalculatorError((err as Error).message);
  }
}

/** The OpenAI tool definition the model is offered for `calculator`. */
export const calculatorTool: Tool = {
  type: "function",
  function: {
    name: "calculator",
    description:
      "Evaluate an arithmetic expression exactly, e.g. '17.5 * 3 + 2^8', 'sqrt(2) / 3', 'round(100 / 7, 2)', '5 km to mile'. Supports + - * / ^ %, parentheses, comparisons, pi, e, units, and abs sqrt cbrt exp log log10 log2 pow round floor ceil sin cos tan asin acos atan atan2 min max mean median sum mod gcd lcm hypot nthRoot factorial.",
    parameters: {
      type: "object",
      properties: { expression: { type: "string", description: "the expression to evaluate" } },
      required: ["expression"],
    },
  },
};
