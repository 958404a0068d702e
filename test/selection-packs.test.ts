import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema, type SelectionConfig } from "../src/config/schema.ts";
import type { Tool } from "../src/protocol/openai.ts";
import { builtinPacks, DomainPackError, loadPacks, packsFor, parseDomainPack } from "../src/selection/domain-pack.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";

const dir = mkdtempSync(join(tmpdir(), "llm-proxy-packs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tool = (name: string, description: string): Tool => ({ type: "function", function: { name, description, parameters: { type: "object", properties: {} } } });
const HOME_NAMES = ["HassTurnOn", "HassTurnOff", "HassLightSet", "GetLiveContext", "other_tool"];

describe("domain packs", () => {
  test("the shipped Home Assistant pack switches itself on for a tool list that looks like Home Assistant's, and only then", () => {
    const auto = loadPacks(["auto"]);
    expect(packsFor(auto, HOME_NAMES).names).toEqual(["home-assistant"]);
    expect(packsFor(auto, HOME_NAMES).paraphrase("kill the lights")).toBe("turn off the lights");
    const general = packsFor(auto, ["mcp_git_status", "mcp_git_log", "read_file", "HassTurnOn"]);
    expect(general.names).toEqual([]);
    expect(general.paraphrase("kill the lights")).toBe("kill the lights");
    expect(general.places.placesIn("in the kitchen")).toEqual([]);
    // Named explicitly, a pack applies to any tool list; without "auto" none is detected.
    expect(packsFor(loadPacks(["home-assistant"]), ["read_file"]).names).toEqual(["home-assistant"]);
    expect(packsFor(loadPacks([]), HOME_NAMES).names).toEqual([]);
  });

  test("a pack of one's own is read from YAML: rewrites, places and opposites", () => {
    const path = join(dir, "garden.yaml");
    writeFileSync(
      path,
      ["name: garden", "paraphrases:", "  - {particle: 'hose', then: 'down', say: 'water'}", "  - {phrase: 'thirsty', say: '$& water'}", "places: [greenhouse, vegetable patch]", "opposites: [[sow, harvest]]"].join("\n"),
    );
    const known = packsFor(loadPacks([path]), ["x"]);
    expect(known.names).toEqual(["garden"]);
    expect(known.paraphrase("hose the tomatoes down")).toBe("water the tomatoes");
    expect(known.paraphrase("the roses look thirsty")).toBe("the roses look thirsty water");
    expect(known.places.placesIn("open the vents in the greenhouse")).toEqual(["in the greenhouse"]);
    expect(known.opposites).toEqual([["sow", "harvest"]]);
  });

  test("an invalid pack is a clear error naming the file and the field", () => {
    expect(() => parseDomainPack("name: x\nparaphrases:\n  - {phrase: 'a(', say: b}\n", "bad.yaml")).toThrow(/bad\.yaml: paraphrases: rewrite 1/);
    expect(() => parseDomainPack("name: x\nplaces: 3\n", "bad.yaml")).toThrow(/bad\.yaml: places: expected array/);
    expect(() => parseDomainPack("name: x\nextra: 1\n", "bad.yaml")).toThrow(DomainPackError);
    expect(() => parseDomainPack("name: [\n", "bad.yaml")).toThrow(/bad\.yaml: invalid YAML/);
    expect(() => loadPacks(["no-such-pack"])).toThrow(/neither "auto", a shipped pack \(home-assistant\)/);
    expect(() => loadPacks([join(dir, "missing.yaml")])).toThrow(/cannot read the domain pack/);
    expect(builtinPacks().map((p) => p.name)).toEqual(["home-assistant"]);
  });

  test("the selector applies the packs of the request's tool list; a bad pack fails when configured", async () => {
    const config = Value.Default(SelectionSchema, { mode: "lexical", keep: 1, related: false }) as SelectionConfig;
    const selector = new ToolSelector({ dataDir: dir, config });
    try {
      const tools = [
        tool("HassTurnOn", "Turns on a device"),
        tool("HassTurnOff", "Turns off a device"),
        tool("HassLightSet", "Sets the brightness or color of a light"),
        tool("GetLiveContext", "Answers questions about the current state of devices"),
        ...Array.from({ length: 8 }, (_, i) => tool(`other_${i}`, `Unrelated tool number ${i}`)),
      ];
      const kept = async (text: string) => (await selector.select({ model: "m", messages: [{ role: "user", content: text }], tools }, resolveSettings(config, [])))!.kept.map((t) => t.function.name);
      // "kill" says "turn off" only through the pack's paraphrases.
      expect(await kept("kill the lights")).toContain("HassTurnOff");
      expect(() => selector.configure({ ...config, packs: ["nope.yaml"] })).toThrow(DomainPackError);
      selector.configure({ ...config, packs: [] });
      expect(await kept("kill the lights")).not.toContain("HassTurnOff");
    } finally {
      selector.close();
    }
  });
});
