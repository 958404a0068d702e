import { describe, expect, test } from "bun:test";
import type { Tool } from "../src/protocol/openai.ts";
import { builtinPacks, compilePacks } from "../src/selection/domain-pack.ts";
import { editDistance, LexicalIndex } from "../src/selection/lexical.ts";
import { buildQuery as buildGeneralQuery, queryTerms, splitClauses as splitGeneralClauses } from "../src/selection/query.ts";
import { scoreTools, type ToolSetIndex } from "../src/selection/rank.ts";
import { relatedTools } from "../src/selection/related.ts";
import { SLOT_PERCENT, SLOT_PLACE, toolDoc } from "../src/selection/tool-doc.ts";

// These tests speak about a home: they run with the shipped Home Assistant domain pack.
const HOME = compilePacks(builtinPacks().filter((p) => p.name === "home-assistant"));
const { paraphrase } = HOME;
const { placesIn, withoutPlaces } = HOME.places;
const buildQuery = (messages: Parameters<typeof buildGeneralQuery>[0]) => buildGeneralQuery(messages, HOME);
const splitClauses = (text: string) => splitGeneralClauses(text, HOME);

const tool = (name: string, description: string): Tool => ({ type: "function", function: { name, description, parameters: { type: "object", properties: {} } } });

describe("plain-English lexicon", () => {
  test("phrasal verbs become plain verbs, with the object between verb and particle kept", () => {
    expect(paraphrase("can you flick the desk lamp on")).toBe("can you turn on the desk lamp");
    expect(paraphrase("switch everything off in the office")).toBe("turn off everything in the office");
    expect(paraphrase("kill the lights")).toBe("turn off the lights");
    expect(paraphrase("roll up the blinds")).toBe("open raise the blinds");
    expect(paraphrase("carry on playing")).toBe("resume unpause continue playing");
  });

  test("'on' before a noun phrase is a preposition, not a particle", () => {
    expect(paraphrase("put milk on the list")).toBe("put milk on the list");
    expect(paraphrase("put the fan on in the kitchen")).toBe("turn on the fan in the kitchen");
  });

  test("specific phrases win over general ones: ticking off is completing, not switching off", () => {
    expect(paraphrase("tick the eggs off")).toBe("complete check off the eggs");
    expect(paraphrase("knock 2 minutes off the timer")).toBe("remove 2 minutes the timer");
  });

  test("gradable adjectives bring the quantity they speak of; abbreviations are spelled out", () => {
    expect(paraphrase("make it louder")).toBe("make it louder volume");
    expect(paraphrase("a bit dimmer")).toBe("a bit dimmer brightness light");
    expect(paraphrase("set temp to 20 for 5 mins")).toBe("set temperature to 20 for 5 minutes");
  });

  test("text the lexicon has nothing for comes back as the same string", () => {
    const text = "what's  the weather in Paris?";
    expect(paraphrase(text)).toBe(text);
  });

  test("the paraphrase is a query segment, and clauses are paraphrased one by one", () => {
    const q = buildQuery([{ role: "user", content: "fire up the coffee machine" }]);
    expect(q.segments.map((s) => s.text)).toContain("turn on start the coffee machine");
    expect(buildQuery([{ role: "user", content: "what time is it" }]).segments.map((s) => s.text)).toEqual(["what time is it", "what time"]);
    const followUp = buildQuery([{ role: "user", content: "is the heating on in the office?" }, { role: "assistant", content: "Yes, it heats to 22 °C." }, { role: "user", content: "turn it down to 19" }]);
    expect(followUp.segments.map((s) => s.text)).toEqual(["turn it down to 19", "lower it to 19", "lower 19", "Yes, it heats to 22 °C temperature.", "is the heating temperature on in the office?"]);
    expect(splitClauses("pause the tv and tell everyone dinner is ready").map((c) => c.text)).toEqual(["pause the tv", "announce tell everyone dinner is ready"]);
  });

  test("a phrasal request reaches the plain-verb tool over a routine that names the same device", () => {
    const docs = [
      tool("HassTurnOn", "Turns on a device or entity"),
      tool("HassTurnOff", "Turns off a device or entity"),
      tool("morning_routine", "Open the bedroom blinds, turn on the kitchen lights and start the coffee machine"),
      tool("HassMediaPause", "Pauses a media player"),
    ].map((t) => toolDoc(t));
    const index: ToolSetIndex = { docs, lexical: new LexicalIndex(docs), related: relatedTools(docs.map((d) => d.name)), domain: HOME };
    const best = (text: string) => {
      const scores = scoreTools(index, buildQuery([{ role: "user", content: text }]), "lexical");
      return docs[scores.map((s, i) => [s.fused, i] as const).sort((a, b) => b[0] - a[0])[0]![1]]!.name;
    };
    expect(best("kill the kitchen lights")).toBe("HassTurnOff");
    expect(best("hang on, hold the music")).toBe("HassMediaPause");
  });
});

describe("places and misspellings", () => {
  test("places are found with their preposition and can be left out", () => {
    expect(placesIn("lower the living room shutters halfway")).toEqual(["the living room"]);
    expect(placesIn("it's boiling in the kids' room and upstairs")).toEqual(["in the kids' room", "upstairs"]);
    expect(withoutPlaces("lower the living room shutters halfway")).toBe("lower shutters halfway");
    const text = "what time is it";
    expect(withoutPlaces(text)).toBe(text);
  });

  test("a place fits tools that take one; place words count faintly; the placeless message is embedded only", () => {
    const withArea = toolDoc({ type: "function", function: { name: "SetPosition", description: "Sets a position", parameters: { type: "object", properties: { area: { type: "string" } } } } });
    expect(withArea.slots).toContain(SLOT_PLACE);
    const q = buildQuery([{ role: "user", content: "close the kitchen blinds" }]);
    expect(q.segments.find((s) => s.embedOnly)?.text).toBe("close blinds");
    const t = queryTerms(q);
    expect(t.get(SLOT_PLACE)).toBe(1);
    expect(t.get("kitchen")!).toBeLessThan(t.get("blind")!);
    expect(queryTerms(buildQuery([{ role: "user", content: "open the blinds halfway" }])).get(SLOT_PERCENT)).toBe(1);
  });

  test("a misspelt word is joined by the tool word it most likely means; known and short words are left alone", () => {
    expect(editDistance("timr", "timer", 1)).toBe(1);
    expect(editDistance("tiemr", "timer", 1)).toBe(1);
    expect(editDistance("abcdef", "uvwxyz", 2)).toBe(3);
    const docs = [tool("StartTimer", "Starts a timer"), tool("SetVolume", "Sets the volume"), tool("TurnOn", "Turns on a light")].map((t) => toolDoc(t));
    const index = new LexicalIndex(docs);
    const fixed = index.withCorrections(new Map([["timr", 1], ["set", 1], ["lit", 1]]));
    expect(fixed.get("timer")).toBeCloseTo(0.6);
    expect(fixed.has("light")).toBe(false);
    const untouched = new Map([["volum", 1]]);
    expect(index.withCorrections(untouched)).toBe(untouched);
  });
});
