/**
 * The conformance suite every ToolSource implementation runs (built-ins, MCP servers, ...), the way
 * one router suite runs over all of Hono's routers. A source's test file calls
 * `toolSourceConformance` once with a factory and a few calls that exercise it:
 *
 * @example
 * toolSourceConformance("builtin", {
 *   make: () => new BuiltinSource(),
 *   ok: { name: "calculator", args: { expression: "1+1" }, expect: (c) => expect(c).toContain("2") },
 *   failing: { name: "calculator", args: { expression: "1+" } },
 * });
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ToolSource } from "../../src/tools/source.ts";

export interface ConformanceCall {
  name: string;
  args: Record<string, unknown>;
}

export interface ConformanceOptions {
  /** A ready source (connected, started); closed by the suite. */
  make(): ToolSource | Promise<ToolSource>;
  /** A call that succeeds; `expect` checks its content. */
  ok: ConformanceCall & { expect?: (content: string) => void };
  /** A call that fails as the tool's own failure (bad arguments, an error the tool reports). */
  failing: ConformanceCall;
  /** A call that runs for at least a few seconds, to check abort and timeout (omit when the source has none). */
  slow?: ConformanceCall;
}

const NAME = /^[a-zA-Z0-9_.-]{1,64}$/;

export function toolSourceConformance(label: string, options: ConformanceOptions): void {
  describe(`ToolSource conformance: ${label}`, () => {
    let source: ToolSource;
    beforeAll(async () => {
      source = await options.make();
    });
    afterAll(async () => {
      await source.close?.();
    });

    test("has a name and lists OpenAI function tools with unique, valid names and object parameters", () => {
      expect(source.name).toMatch(/^\S+$/);
      const tools = source.list();
      expect(tools.length).toBeGreaterThan(0);
      const names = tools.map((t) => t.function.name);
      expect(new Set(names).size).toBe(names.length);
      for (const tool of tools) {
        expect(tool.type).toBe("function");
        expect(tool.function.name).toMatch(NAME);
        if (tool.function.parameters !== undefined) expect((tool.function.parameters as { type?: string }).type).toBe("object");
      }
      // cheap and stable: listing twice gives the same tools
      expect(source.list().map((t) => t.function.name)).toEqual(names);
      expect(names).toContain(options.ok.name);
    });

    test("a successful call resolves with string content and no error flag", async () => {
      const result = await source.call(options.ok.name, options.ok.args, { timeoutMs: 10_000 });
      expect(typeof result.content).toBe("string");
      expect(result.isError ?? false).toBe(false);
      options.ok.expect?.(result.content);
    });

    test("a failing call resolves with isError and a message, it does not throw", async () => {
      const result = await source.call(options.failing.name, options.failing.args, { timeoutMs: 10_000 });
      expect(result.isError).toBe(true);
      expect(result.content.length).toBeGreaterThan(0);
    });

    test("an unknown tool resolves with isError", async () => {
      const result = await source.call("no_such_tool_conformance", {}, { timeoutMs: 10_000 });
      expect(result.isError).toBe(true);
    });

    test("a call with an already aborted signal rejects", async () => {
      const controller = new AbortController();
      controller.abort(new Error("client went away"));
      await expect(source.call(options.ok.name, options.ok.args, { timeoutMs: 10_000, signal: controller.signal })).rejects.toBeDefined();
    });

    if (options.slow) {
      const slow = options.slow;
      test("aborting the signal during a call rejects it", async () => {
        const controller = new AbortController();
        const call = source.call(slow.name, slow.args, { timeoutMs: 60_000, signal: controller.signal });
        setTimeout(() => controller.abort(new Error("client went away")), 50);
        await expect(call).rejects.toBeDefined();
      });

      test("a call past its timeout resolves with an error result", async () => {
        const result = await source.call(slow.name, slow.args, { timeoutMs: 100 });
        expect(result.isError).toBe(true);
        expect(result.content.toLowerCase()).toContain("time");
      });
    }
  });
}
