/**
 * Augmented model files and skills as the loader sees them (errors name file, key path, expected
 * and found), the system prompt merge, and the splice store.
 */
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { readModelFiles } from "../src/config/models.ts";
import { mergeSystemPrompt } from "../src/pipeline/augment.ts";
import { loadAugmented } from "../src/pipeline/augmented.ts";
import { MemorySpliceStore, rememberTurn, restoreTurns } from "../src/pipeline/splice.ts";
import type { ToolCall } from "../src/protocol/openai.ts";
import { BuiltinSource } from "../src/tools/builtins/index.ts";
import { ToolRegistry } from "../src/tools/registry.ts";
import { Runtime } from "../src/runtime.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { readSkillDir } from "../src/tools/skills.ts";
import { configErrorOf } from "./fakes/config-error.ts";

let root: string;
let n = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "llm-proxy-models-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh conf directory with `files` (paths relative to it) and a config file. */
function conf(files: Record<string, string>): string {
  const dir = join(root, `c${n++}`);
  for (const [name, text] of Object.entries({ "llm-proxy.yaml": "upstreams: [{name: up, base_url: 'http://127.0.0.1:9/v1'}]\n", ...files })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function load(dir: string, env: Record<string, string> = {}) {
  const loaded = loadConfig({ path: join(dir, "llm-proxy.yaml"), env });
  return loadAugmented(loaded.config, loaded.path, env, new ToolRegistry([new BuiltinSource()]));
}


describe("model files", () => {
  test("defaults, ${ENV} interpolation, models/ beside the config file", () => {
    const dir = conf({ "models/a.yml": "name: augmented/a\nupstream_model: ${UP:-up/x}\n", "models/b.yaml": "name: b\n", "models/notes.txt": "ignored" });
    const models = load(dir, { UP: "up/qwen3" });
    expect(models.modelsDir).toBe(join(dir, "models"));
    expect(models.all.map((m) => [m.name, m.upstreamModel])).toEqual([["augmented/a", "up/qwen3"], ["b", "b"]]);
    const a = models.get("augmented/a")!;
    expect(a.config).toMatchObject({ owned_by: "llm-proxy", max_tool_rounds: 10, tool_timeout_ms: 30000, skill_mode: "inline", include_global_skills: true, tools: [], params: {} });
    expect([a.status("openai"), a.status("ollama")]).toEqual(["chunks", "thinking"]);
    expect(models.get("augmented/a:latest")).toBe(a);
  });

  test("errors name the file, the key path, what was expected and what was found", () => {
    const cases: [string, string][] = [
      ["upstream_model: x\n", ": name: expected a value (required), found nothing"],
      ["name: m\nmax_tool_rounds: 0\n", ": max_tool_rounds: expected integer to be greater or equal to 1, found 0"],
      ["name: m\nstatus: loud\n", ": status: expected one of off, chunks, thinking, found \"loud\""],
      ["name: m\ntools: [{function: {description: x}}]\n", ": tools[0]"],
      ["name: m\nsystem_promt: hi\n", ': system_promt: unexpected property, found "hi"'],
      ["name: m\nselection: {keep: many}\n", ": selection.keep: expected integer, found \"many\""],
      ["name: m\n  bad: [\n", ": invalid YAML line"],
      ["name: ${NOPE}\n", ": name: environment variable NOPE is not set"],
    ];
    for (const [text, message] of cases) {
      const dir = conf({ "models/m.yml": text });
      const error = configErrorOf(() => load(dir));
      expect(error).toStartWith(join(dir, "models/m.yml"));
      expect(error).toContain(message);
    }
  });

  test("two files with one name, a broken template, an unknown skill and a name leaving the skills directory are refused", () => {
    expect(configErrorOf(() => load(conf({ "models/a.yml": "name: same\n", "models/b.yml": "name: same\n" })))).toContain("b.yml: name: expected a model name no other file uses, found \"same\" (also in");
    expect(configErrorOf(() => load(conf({ "models/a.yml": "name: a\nsystem_prompt: 'Now {{get_current_time(timezone=Berlin)}}'\n" })))).toContain(
      'a.yml: system_prompt: template at offset 32: expected a string, number, true, false or null, found "Berlin)}}"',
    );
    expect(configErrorOf(() => load(conf({ "models/a.yml": "name: a\nskills: [nope]\n" })))).toContain("a.yml: skills[0]: expected the name of a skill in");
    expect(configErrorOf(() => load(conf({ "models/a.yml": "name: ../../etc\n" })))).toContain("name: expected a name that stays inside the skills directory");
  });

  test("MODELS_CONFIG_DIR overrides models_dir; a missing directory has no models", () => {
    const dir = conf({ "elsewhere/x.yml": "name: x\n" });
    expect(load(dir, { MODELS_CONFIG_DIR: join(dir, "elsewhere") }).all.map((m) => m.name)).toEqual(["x"]);
    expect(readModelFiles(join(dir, "missing"), {})).toEqual([]);
  });
});

test("a model's selection overrides apply to it first; on-demand skills keep load_skill", () => {
  const dir = conf({
    "llm-proxy.yaml": "upstreams: [{name: up, base_url: 'http://127.0.0.1:9/v1'}]\nselection: {models: {'augmented/*': {keep: 3}}}\n",
    "models/a.yml": "name: augmented/a\nselection: {keep: 9, always: [calculator]}\nskill_mode: on_demand\nskills: [{name: s, content: x}]\n",
    "models/b.yml": "name: augmented/b\n",
  });
  const runtime = new Runtime(loadConfig({ path: join(dir, "llm-proxy.yaml"), env: {}, overrides: { data_dir: join(dir, "data") } }), { env: {} });
  try {
    const { selection } = runtime.state.config;
    expect(resolveSettings(selection, ["augmented/a"])).toMatchObject({ keep: 9, always: ["calculator", "load_skill"] });
    expect(resolveSettings(selection, ["augmented/b"])).toMatchObject({ keep: 3 });
  } finally {
    runtime.close();
  }
});

describe("skills", () => {
  test("*.md with front matter, <name>/SKILL.md and *.yaml; a model's own directory adds to (and overrides) the global ones", () => {
    const dir = conf({
      "skills/lights.md": "---\nname: lights\ndescription: Lights\n---\nGlobal lights text.\n",
      "skills/weather/SKILL.md": "Weather text without front matter.\n",
      "skills/units.yaml": "name: units\ndescription: Units\ncontent: Use metric units.\n",
      "skills/augmented/ha/lights.md": "---\nname: lights\n---\nHA lights text.\n",
      "skills/augmented/ha/extra.md": "Extra.\n",
      "models/ha.yml": "name: augmented/ha\n",
      "models/few.yml": "name: few\ninclude_global_skills: false\nskills: [units, {name: own, content: Inline text.}]\n",
    });
    expect(readSkillDir(join(dir, "skills")).map((s) => [s.name, s.description, s.content])).toEqual([
      ["lights", "Lights", "Global lights text."],
      ["units", "Units", "Use metric units."],
      ["weather", "", "Weather text without front matter."],
    ]);
    const models = load(dir);
    expect(models.get("augmented/ha")!.skills.map((s) => `${s.name}=${s.content}`)).toEqual(["lights=HA lights text.", "units=Use metric units.", "weather=Weather text without front matter.", "extra=Extra."]);
    expect(models.get("few")!.skills.map((s) => s.name)).toEqual(["units", "own"]);
  });

  test("two skills of one name in a directory, and malformed front matter, are refused", () => {
    const dup = conf({ "skills/a.md": "---\nname: same\n---\nx\n", "skills/b.md": "---\nname: same\n---\ny\n" });
    expect(configErrorOf(() => readSkillDir(join(dup, "skills")))).toContain('skill name "same" is also used by');
    const bad = conf({ "skills/a.md": "---\nname: [\n---\nx\n" });
    expect(configErrorOf(() => readSkillDir(join(bad, "skills")))).toContain("a.md: invalid YAML front matter");
  });
});

test("the system prompt goes before the client's first system (or developer) message, or first", () => {
  expect(mergeSystemPrompt([{ role: "system", content: "Client." }, { role: "user", content: "hi" }], "Ours.")).toEqual([{ role: "system", content: "Ours.\n\nClient." }, { role: "user", content: "hi" }]);
  expect(mergeSystemPrompt([{ role: "developer", content: [{ type: "text", text: "Dev." }] }], "Ours.")).toEqual([{ role: "developer", content: [{ type: "text", text: "Ours.\n\n" }, { type: "text", text: "Dev." }] }]);
  expect(mergeSystemPrompt([{ role: "user", content: "hi" }], "Ours.")).toEqual([{ role: "system", content: "Ours." }, { role: "user", content: "hi" }]);
  expect(mergeSystemPrompt([{ role: "user", content: "hi" }], "")).toEqual([{ role: "user", content: "hi" }]);
});

describe("splice store", () => {
  const call = (id: string, name: string, args: string): ToolCall => ({ id, type: "function", function: { name, arguments: args } });
  const proxyCall = call("p1", "echo_tool", '{"text":"x"}');
  const clientCall = call("c1", "light_on", '{"room":"hall","level":2}');
  const turn = { calls: [{ call: proxyCall, client: false }, { call: clientCall, client: true }], results: [{ role: "tool", tool_call_id: "p1", content: "{}" }] };

  test("a turn is found by ids, or by names and arguments in any key order, within its scope only", () => {
    const store = new MemorySpliceStore(60_000, 100);
    rememberTurn(store, "m\0conv", turn);
    const history = (c: ToolCall) => [{ role: "user", content: "q" }, { role: "assistant", content: null, tool_calls: [c] }, { role: "tool", tool_call_id: c.id, content: "ok" }];
    expect(restoreTurns(store, "m\0conv", history(clientCall))!.map((m) => [m.role, m.tool_call_id ?? m.tool_calls?.map((t) => t.id).join(",") ?? null])).toEqual([
      ["user", null], ["assistant", "p1,c1"], ["tool", "p1"], ["tool", "c1"],
    ]);
    // An Ollama client's own id, arguments re-encoded in another key order
    const restored = restoreTurns(store, "m\0conv", history(call("call_1_0", "light_on", '{"level":2,"room":"hall"}')))!;
    expect(restored[1]!.tool_calls!.map((t) => t.id)).toEqual(["p1", "call_1_0"]);
    expect(restoreTurns(store, "m\0other", history(clientCall))).toBeUndefined();
    expect(restoreTurns(store, "m\0conv", history(call("c9", "light_on", '{"room":"attic"}')))).toBeUndefined();
  });

  test("entries expire after the TTL since their last use, and the least recently used go past the bound", () => {
    const store = new MemorySpliceStore(1000, 2);
    try {
      setSystemTime(new Date("2026-01-01T00:00:00Z"));
      store.set("a", turn);
      store.set("b", turn);
      setSystemTime(new Date("2026-01-01T00:00:00.900Z"));
      expect(store.get("a")).toBe(turn); // refreshed
      setSystemTime(new Date("2026-01-01T00:00:01.500Z"));
      expect(store.get("b")).toBeUndefined();
      expect(store.get("a")).toBe(turn);
      store.set("c", turn);
      store.set("d", turn);
      expect(store.get("a")).toBeUndefined();
      expect(store.size).toBe(2);
    } finally {
      setSystemTime();
    }
  });
});
