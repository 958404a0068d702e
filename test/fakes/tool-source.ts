/**
 * A ToolSource with tools whose behaviour tests need and built-ins do not have: one that echoes,
 * one that takes its time (and records whether it was aborted), one that throws, one that returns
 * garbage, and one that ignores its signal and timeout.
 */
import type { Tool } from "../../src/protocol/openai.ts";
import type { ToolCallOptions, ToolResult, ToolSource } from "../../src/tools/source.ts";

const tool = (name: string, description: string): Tool => ({ type: "function", function: { name, description, parameters: { type: "object", properties: { text: { type: "string" }, ms: { type: "number" } } } } });

export class FakeToolSource implements ToolSource {
  /** Every call: name, arguments, and how it ended. */
  readonly calls: { name: string; args: Record<string, unknown>; outcome?: "ok" | "aborted" | "timeout" | "error" }[] = [];
  /** Resolves when a `slow_tool` call has started (for disconnect tests). */
  slowStarted: Promise<void>;
  private markSlowStarted!: () => void;

  constructor(readonly name = "fake") {
    this.slowStarted = new Promise((r) => (this.markSlowStarted = r));
  }

  list(): Tool[] {
    return [tool("echo_tool", "Echo the text."), tool("slow_tool", "Wait `ms` milliseconds."), tool("failing_tool", "Always throws."), tool("garbage_tool", "Returns a malformed result."), tool("stubborn_tool", "Ignores its signal and timeout.")];
  }

  async call(name: string, args: Record<string, unknown>, options: ToolCallOptions): Promise<ToolResult> {
    const record: (typeof this.calls)[number] = { name, args };
    this.calls.push(record);
    if (options.signal?.aborted) {
      record.outcome = "aborted";
      throw options.signal.reason;
    }
    switch (name) {
      case "echo_tool":
        record.outcome = "ok";
        return { content: JSON.stringify({ echo: args.text ?? null }) };
      case "slow_tool":
        this.markSlowStarted();
        return new Promise((resolve, reject) => {
          const ms = typeof args.ms === "number" ? args.ms : 60_000;
          const done = setTimeout(() => {
            record.outcome = "ok";
            resolve({ content: JSON.stringify({ waited_ms: ms }) });
          }, ms);
          const timeout = setTimeout(() => {
            clearTimeout(done);
            record.outcome = "timeout";
            resolve({ content: JSON.stringify({ error: `timed out after ${options.timeoutMs} ms` }), isError: true });
          }, options.timeoutMs);
          options.signal?.addEventListener("abort", () => {
            clearTimeout(done);
            clearTimeout(timeout);
            record.outcome = "aborted";
            reject(options.signal!.reason);
          });
        });
      case "failing_tool":
        record.outcome = "error";
        throw new Error("the fake tool broke");
      case "garbage_tool":
        record.outcome = "ok";
        return { content: { not: "a string" } } as unknown as ToolResult;
      case "stubborn_tool":
        return new Promise(() => {});
      default:
        record.outcome = "error";
        return { content: JSON.stringify({ error: `unknown tool ${name}` }), isError: true };
    }
  }
}
