/**
 * Cache-aware selection, unit level: the working-set plan (grow by appending, transient tails,
 * the ski-rental shrink with hysteresis, the budget fallback), its stores (memory and the file in the
 * data directory), and the prompt-cache tracker (tokens-to-compute estimate, learning whether an
 * upstream caches).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { PromptCacheTracker, type PromptSegment } from "../src/selection/prompt-cache.ts";
import { FileWorkingSetStore, MemoryWorkingSetStore } from "../src/selection/working-set-store.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { planWorkingSet, type WorkingSet } from "../src/selection/working-set.ts";

const tokens = () => 100;
const plan = (ws: WorkingSet | undefined, needed: string[], maxTokens = 0, fits?: (t: readonly string[]) => boolean) => planWorkingSet(ws, needed, { maxTokens, tokens, fits });

/** Runs a sequence of selections through the planner, returning every plan. */
function replay(needs: string[][], maxTokens = 0) {
  let ws: WorkingSet | undefined;
  return needs.map((n) => {
    const p = plan(ws, n, maxTokens);
    ws = p.next;
    return p;
  });
}

describe("working-set plan", () => {
  test("created from the first selection; a selection inside W forwards W unchanged", () => {
    const [a, b, c] = replay([["t1", "t2"], ["t2"], []]);
    expect(a!).toMatchObject({ forward: ["t1", "t2"], change: "created" });
    expect(b!).toMatchObject({ forward: ["t1", "t2"], change: "none" });
    expect(c!.forward).toEqual(["t1", "t2"]);
    expect(c!.next).toMatchObject({ requests: 3, changes: 0, lastUsed: [1, 2] });
  });

  test("new tools are appended after W's, so W's tools keep their positions (the prefix)", () => {
    const [, grown, again] = replay([["t3", "t5"], ["t1", "t5", "t9"], ["t1"]]);
    expect(grown!).toMatchObject({ forward: ["t3", "t5", "t1", "t9"], change: "grown" });
    expect(grown!.next.changes).toBe(1);
    expect(again!).toMatchObject({ forward: ["t3", "t5", "t1", "t9"], change: "none" });
  });

  test("a full W forwards transient tails until they cost what a shrink would, then shrinks once to 3/4 of the cap", () => {
    // Cap 800 tokens: W fills with a..h (100 tokens each), then new tools keep arriving.
    const needs = [["a", "b", "c", "d"], ["e", "f", "g", "h"], ["a"], ["x"], ["y"], ["z"], ["x"], ["w"]];
    const plans = replay(needs, 800);
    // A shrink would recompute 5 tools (W from its second tool on): 500 tokens, the rent of 5 tails.
    expect(plans.map((p) => p.change)).toEqual(["created", "grown", "none", "tail", "tail", "tail", "tail", "shrunk"]);
    // A tail rides after W: W's prefix is untouched and W does not change.
    expect(plans[3]!.forward).toEqual(["a", "b", "c", "d", "e", "f", "g", "h", "x"]);
    expect(plans[3]!.next.tools).toEqual(["a", "b", "c", "d", "e", "f", "g", "h"]);
    expect(plans[6]!.next.tailTokens).toBe(400);
    // The shrink: to 600 tokens = 6 tools; "a" (used at request 3) and e..h (request 2) stay, b..d
    // (request 1) go; w, needed now, is appended.
    const shrunk = plans[7]!;
    expect(shrunk.forward).toEqual(["a", "e", "f", "g", "h", "w"]);
    expect(shrunk.next).toMatchObject({ tools: ["a", "e", "f", "g", "h", "w"], tailTokens: 0, changes: 2 });
  });

  test("a tool the request needs is never dropped by a shrink", () => {
    const [, , p] = replay([["a", "b", "c", "d"], ["e"], ["a", "b", "c", "d", "f"]], 400);
    expect(p!.change).toBe("shrunk");
    expect(p!.forward).toEqual(expect.arrayContaining(["a", "b", "c", "d", "f"]));
  });

  test("a W that does not fit the budget is not forwarded: this request gets N, W stays for the next", () => {
    const first = plan(undefined, ["a", "b"]);
    const fits = (t: readonly string[]) => t.length <= 2;
    const over = plan(first.next, ["c"], 0, fits);
    expect(over).toMatchObject({ forward: ["c"], change: "over budget" });
    expect(over.next.tools).toEqual(["a", "b"]);
    expect(plan(over.next, ["b"], 0, fits)).toMatchObject({ forward: ["a", "b"], change: "none" });
    // A first selection already over budget leaves no set behind.
    expect(plan(undefined, ["a", "b", "c"], 0, fits)).toMatchObject({ forward: ["a", "b", "c"], change: "over budget", next: { tools: [] } });
  });
});

describe("working-set stores", () => {
  const ws: WorkingSet = { tools: ["a", "b"], lastUsed: [1, 1], requests: 1, changes: 0, tailTokens: 0 };

  test("memory: bounded, least recently used dropped first", async () => {
    const store = new MemoryWorkingSetStore(2);
    await store.set("k1", ws);
    await store.set("k2", ws);
    await store.get("k1");
    await store.set("k3", ws);
    expect(await store.get("k1")).toEqual(ws);
    expect(await store.get("k2")).toBeUndefined();
  });

  test("file: survives a restart; a damaged file starts empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-proxy-ws-"));
    try {
      const store = new FileWorkingSetStore(dir);
      await store.set("k", ws);
      store.close();
      expect(JSON.parse(readFileSync(join(dir, "working-sets.json"), "utf8")).version).toBe(1);
      const again = new FileWorkingSetStore(dir);
      expect(await again.get("k")).toEqual(ws);
      again.close();
      writeFileSync(join(dir, "working-sets.json"), "{not json");
      expect(await new FileWorkingSetStore(dir).get("k")).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("prompt-cache tracker", () => {
  const seg = (id: string, tokens = 100): PromptSegment => ({ id, tokens });

  test("tokens to compute: the segments after the longest shared prefix with a recent prompt", () => {
    const t = new PromptCacheTracker();
    expect(t.estimate("u", [seg("sys", 1000), seg("t1"), seg("user1", 10)])).toEqual({ toCompute: 1110, shared: 0 });
    expect(t.estimate("u", [seg("sys", 1000), seg("t1"), seg("user2", 12)])).toEqual({ toCompute: 12, shared: 1100 });
    expect(t.estimate("u", [seg("sys", 1000), seg("t2"), seg("t1"), seg("user3", 12)])).toEqual({ toCompute: 212, shared: 1000 });
    // Another upstream model has its own history.
    expect(t.estimate("other", [seg("sys", 1000)]).shared).toBe(0);
  });

  test("two clients alternating keep their own slots (up to 4 prompts per upstream model)", () => {
    const t = new PromptCacheTracker();
    const a = (u: string) => [seg("sysA", 800), seg(u, 10)];
    const b = (u: string) => [seg("sysB", 900), seg(u, 10)];
    t.estimate("u", a("1"));
    t.estimate("u", b("1"));
    expect(t.estimate("u", a("2")).shared).toBe(800);
    expect(t.estimate("u", b("2")).shared).toBe(900);
  });

  test("learns from the replies whether the upstream caches", () => {
    const t = new PromptCacheTracker();
    t.estimate("u", [seg("sys", 2000)]);
    expect(t.caching("u")).toBeUndefined();
    t.report("u", null, 2000); // not reported: nothing learned
    t.report("u", 0, 500); // a short shared prefix: a provider may not cache it, nothing learned
    t.report("u", 0, 2000);
    t.report("u", 0, 2000);
    expect(t.caching("u")).toBeUndefined();
    t.report("u", 0, 2000);
    expect(t.caching("u")).toBe(false);
    t.report("u", 1500, 2000);
    expect(t.caching("u")).toBe(true);
  });

  test("segments: system message(s) first, then the tools, then the rest; message tokens counted", async () => {
    const t = new PromptCacheTracker();
    const request = { model: "m", messages: [{ role: "system" as const, content: "You are a voice assistant." }, { role: "user" as const, content: "turn on the light" }] };
    const segs = await t.segments(request, [seg("h1", 50)]);
    expect(segs.map((s) => s.id.startsWith("tool:"))).toEqual([false, true, false]);
    expect(segs[0]!.tokens).toBeGreaterThan(5);
    const again = await t.segments({ ...request, messages: [request.messages[0]!, { role: "user", content: "turn off the light" }] }, [seg("h1", 50)]);
    expect(again[0]!.id).toBe(segs[0]!.id);
    expect(again[2]!.id).not.toBe(segs[2]!.id);
  });
});

describe("configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-ws-config-"));
  const load = (yaml: string) => {
    const path = join(dir, "c.yaml");
    writeFileSync(path, yaml);
    return loadConfig({ path, env: {} }).config;
  };

  test("defaults, per-model overrides, and a bad value named by its key path", () => {
    const config = load("selection:\n  models:\n    'gpt-*': { cache: per_request, cache_keep: 3 }\n");
    expect(resolveSettings(config.selection, ["qwen3"])).toMatchObject({ cache: "auto", cache_max_tool_tokens: 4500, cache_keep: 2 });
    expect(resolveSettings(config.selection, ["gpt-4o"])).toMatchObject({ cache: "per_request", cache_keep: 3 });
    let message = "";
    try {
      load("selection:\n  cache: sometimes\n");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("selection.cache: ");
    expect(message).toContain('found "sometimes"');
    rmSync(dir, { recursive: true, force: true });
  });
});
