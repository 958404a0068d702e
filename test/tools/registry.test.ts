import { expect, test } from "bun:test";
import { BuiltinSource } from "../../src/tools/builtins/index.ts";
import { runTool, ToolRegistry, ToolSet } from "../../src/tools/registry.ts";
import { FakeToolSource } from "../fakes/tool-source.ts";
import { toolSourceConformance } from "./conformance.ts";

// The fake source the tool-loop tests use behaves as every source must.
toolSourceConformance("fake (test/fakes/tool-source.ts)", {
  make: () => new FakeToolSource(),
  ok: { name: "echo_tool", args: { text: "hi" }, expect: (c) => expect(JSON.parse(c)).toEqual({ echo: "hi" }) },
  failing: { name: "no_such_fake_tool", args: {} },
  slow: { name: "slow_tool", args: { ms: 60_000 } },
});

test("runTool: a throw, garbage, a plain-text error and an overrun all become {error} results", async () => {
  const source = new FakeToolSource();
  const thrown = await runTool(source, "failing_tool", {}, { timeoutMs: 1000 });
  expect(thrown).toEqual({ isError: true, content: JSON.stringify({ error: "tool failing_tool failed: the fake tool broke" }) });
  const garbage = await runTool(source, "garbage_tool", {}, { timeoutMs: 1000 });
  expect(JSON.parse(garbage.content)).toEqual({ error: "tool garbage_tool returned an invalid result" });
  const stubborn = await runTool(source, "stubborn_tool", {}, { timeoutMs: 50 });
  expect(JSON.parse(stubborn.content)).toEqual({ error: "tool stubborn_tool timed out after 50 ms" });
  const plain = await runTool({ name: "p", list: () => [], call: async () => ({ content: "no luck", isError: true }) }, "x", {}, { timeoutMs: 1000 });
  expect(plain).toEqual({ isError: true, content: JSON.stringify({ error: "no luck" }) });
});

test("runTool: the client's abort rejects the call and reaches the source's signal", async () => {
  const source = new FakeToolSource();
  const controller = new AbortController();
  const call = runTool(source, "slow_tool", {}, { timeoutMs: 60_000, signal: controller.signal });
  await source.slowStarted;
  controller.abort(new Error("client disconnected"));
  await expect(call).rejects.toThrow("client disconnected");
  expect(source.calls[0]!.outcome).toBe("aborted");
});

test("ToolRegistry finds a tool's source, first registered wins; duplicate source names are refused", () => {
  const fake = new FakeToolSource();
  const registry = new ToolRegistry([new BuiltinSource(), fake]);
  expect(registry.get("fake")).toBe(fake);
  expect(registry.all.map((s) => s.name)).toEqual(["builtin", "fake"]);
  expect(registry.find("calculator")?.source.name).toBe("builtin");
  expect(registry.find("echo_tool")?.source.name).toBe("fake");
  expect(registry.find("nothing")).toBeUndefined();
  expect(() => registry.add(new FakeToolSource())).toThrow("registered twice");
  const set = new ToolSet([registry.find("calculator")!, registry.find("echo_tool")!]);
  expect(set.tools.map((t) => t.function.name)).toEqual(["calculator", "echo_tool"]);
  expect(set.without(new Set(["calculator"])).tools.map((t) => t.function.name)).toEqual(["echo_tool"]);
});
