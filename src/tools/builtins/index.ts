/**
 * The built-in tool source ("builtin"): `get_current_time` and `calculator`, run in-process.
 * Results are JSON text; failures are `{"error": "..."}` results, never exceptions.
 */
import type { Tool } from "../../protocol/openai.ts";
import type { ToolCallOptions, ToolResult, ToolSource } from "../source.ts";
import { calculate, calculatorTool } from "./calculator.ts";
import { currentTime, currentTimeTool } from "./time.ts";

type Handler = (args: Record<string, unknown>) => string | Promise<string>;

const error = (message: string): ToolResult => ({ content: JSON.stringify({ error: message }), isError: true });

const HANDLERS: Record<string, { tool: Tool; run: Handler }> = {
  get_current_time: {
    tool: currentTimeTool,
    run(args) {
      const zone = args.timezone;
      if (zone !== undefined && zone !== null && typeof zone !== "string") throw new Error("timezone must be a string");
      const time = currentTime(zone || undefined);
      if (args.format === "human") return time.human;
      if (args.format === "iso") return time.iso;
      return JSON.stringify(time);
    },
  },
  calculator: {
    tool: calculatorTool,
    async run(args) {
      if (typeof args.expression !== "string" || args.expression.trim() === "") throw new Error("expression must be a non-empty string");
      return JSON.stringify({ expression: args.expression, result: await calculate(args.expression) });
    },
  },
};

/** The built-ins as one ToolSource: `list()` their definitions, `call()` runs one (an unknown name or bad arguments give an error result). */
export class BuiltinSource implements ToolSource {
  readonly name = "builtin";
  private readonly tools = Object.values(HANDLERS).map((h) => h.tool);

  list(): Tool[] {
    return this.tools;
  }

  async call(name: string, args: Record<string, unknown>, options: ToolCallOptions): Promise<ToolResult> {
    if (options.signal?.aborted) throw options.signal.reason;
    const handler = HANDLERS[name];
    if (!handler) return error(`unknown tool ${name}`);
    try {
      return { content: await handler.run(args ?? {}) };
    } catch (err) {
      return error((err as Error).message);
    }
  }
}
