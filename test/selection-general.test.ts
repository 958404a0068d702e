import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema, type SelectionConfig } from "../src/config/schema.ts";
import type { ChatMessage, Tool } from "../src/protocol/openai.ts";
import type { Embedder } from "../src/selection/embedder.ts";
import { bridgeTerms, nameVocabulary, unknownWords } from "../src/selection/bridge.ts";
import { typicalLexical } from "../src/selection/calibration.ts";
import { NO_PACKS } from "../src/selection/domain-pack.ts";
import { foreignLanguage, LanguageDetector, toolLanguage } from "../src/selection/language.ts";
import { LexicalIndex } from "../src/selection/lexical.ts";
import { lengthBuckets } from "../src/selection/length-buckets.ts";
import { buildQuery, queryTerms } from "../src/selection/query.ts";
import { decide, scoreTools, type SelectionSettings, type ToolScore, type ToolSetIndex } from "../src/selection/rank.ts";
import { relatedTools } from "../src/selection/related.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { SLOT_PATH, SLOT_URL, toolDoc } from "../src/selection/tool-doc.ts";

const tool = (name: string, description: string, properties: Record<string, unknown> = {}): Tool => ({
  type: "function",
  function: { name, description, parameters: { type: "object", properties } },
});

// A tool list of another field than the home: files, a repository host, chat, a browser.
const TOOLS: Tool[] = [
  tool("files_read_file", "Read the complete contents of a file from the file system.", { path: { type: "string" } }),
  tool("files_write_file", "Create a new file or overwrite an existing file with new content.", { path: { type: "string" }, content: { type: "string" } }),
  tool("files_list_directory", "Get a listing of all files and directories in a specified path.", { path: { type: "string" } }),
  tool("files_create_directory", "Create a new directory or ensure it exists.", { path: { type: "string" } }),
  tool("repo_list_issues", "List issues in a repository, filtered by state and labels.", { owner: { type: "string" }, repo: { type: "string" } }),
  tool("repo_create_issue", "Open a new issue in a repository.", { owner: { type: "string" }, repo: { type: "string" }, title: { type: "string" } }),
  tool("repo_merge_pull_request", "Merge a pull request.", { owner: { type: "string" }, repo: { type: "string" }, number: { type: "integer" } }),
  tool("chat_post_message", "Post a new message to a channel.", { channel: { type: "string" }, text: { type: "string" } }),
  tool("chat_channel_history", "Get recent messages from a channel.", { channel: { type: "string" } }),
  tool("browser_navigate", "Navigate the browser to a URL.", { url: { type: "string" } }),
  tool("browser_screenshot", "Take a screenshot of the current page.", {}),
  tool("graph_create_entities", "Create multiple new entities in the knowledge graph of the memory.", { entities: { type: "array" } }),
];

function indexOf(tools: Tool[]): ToolSetIndex {
  const docs = tools.map((t) => toolDoc(t));
  const lexical = new LexicalIndex(docs);
  return { docs, lexical, related: relatedTools(docs.map((d) => d.name)), domain: NO_PACKS, typicalLexical: typicalLexical(lexical) };
}
const INDEX = indexOf(TOOLS);
const SETTINGS: SelectionSettings = { mode: "lexical", keep: 2, min_tools: 3, min_score: 0, max_tool_tokens: 0, always: [], never: [], related: false, keep_within: 0.5, small_talk_keep: 1, fail_open: true, server_bonus: 0.3, bridge: 0.5 };
const user = (content: string): ChatMessage => ({ role: "user", content });
const kept = (decisions: { name: string; kept: boolean }[]) => decisions.filter((d) => d.kept).map((d) => d.name);
const scored = (fused: number[], lexical = 1): ToolScore[] => fused.map((f) => ({ lexical, semantic: null, fused: f }));

describe("confidence-aware keep", () => {
  const query = buildQuery([user("anything")]);
  const idx = indexOf(TOOLS.slice(0, 6));
  test("a clear winner keeps `keep`; a flat ranking keeps every tool near the best, up to all", () => {
    const sure = decide({ index: idx, scores: scored([1, 0.2, 0.1, 0.1, 0.05, 0]), query, settings: SETTINGS });
    expect(kept(sure)).toEqual(["files_read_file", "files_write_file"]);
    const flat = decide({ index: idx, scores: scored([1, 0.9, 0.8, 0.7, 0.6, 0.1]), query, settings: SETTINGS });
    expect(kept(flat).length).toBe(5);
    expect(flat.find((d) => d.name === "files_create_directory")!.reason).toBe("rank 4");
    const fixed = decide({ index: idx, scores: scored([1, 0.9, 0.8, 0.7, 0.6, 0.1]), query, settings: { ...SETTINGS, keep_within: 0 } });
    expect(kept(fixed).length).toBe(2);
  });

  test("a request in another language, or sharing no word with any tool, fails open: every tool is kept", () => {
    const foreign = decide({ index: idx, scores: scored([1, 0.2, 0.1, 0.1, 0.05, 0]), query, settings: SETTINGS, signals: { foreignLanguage: "de" } });
    expect(foreign.every((d) => d.kept && d.reason === "fail open: request in de")).toBe(true);
    const noOverlap = decide({ index: idx, scores: scored([1, 0.2, 0.1, 0.1, 0.05, 0], 0), query, settings: SETTINGS });
    expect(noOverlap.every((d) => d.kept && d.reason === "fail open: no word in common with any tool")).toBe(true);
    // never still wins, and fail_open: false ranks as usual
    const withNever = decide({ index: idx, scores: scored([1, 0.2, 0.1, 0.1, 0.05, 0], 0), query, settings: { ...SETTINGS, never: ["files_write*"] } });
    expect(kept(withNever)).not.toContain("files_write_file");
    expect(kept(decide({ index: idx, scores: scored([1, 0.2, 0.1, 0.1, 0.05, 0]), query, settings: { ...SETTINGS, fail_open: false }, signals: { foreignLanguage: "de" } })).length).toBe(2);
  });

  test("small talk keeps few tools, without the family of the best one", () => {
    const decisions = decide({ index: idx, scores: scored([1, 0.9, 0.8, 0.7, 0.6, 0.1], 0), query, settings: { ...SETTINGS, related: true }, signals: { smallTalk: true } });
    expect(kept(decisions)).toEqual(["files_read_file"]);
  });
});

describe("ranking any tool list", () => {
  const best = (messages: ChatMessage[], settings = SETTINGS) => {
    const scores = scoreTools(INDEX, buildQuery(messages), "lexical", undefined, undefined, settings.server_bonus);
    return TOOLS[scores.map((s, i) => [s.fused, i] as const).sort((a, b) => b[0] - a[0])[0]![1]]!.function.name;
  };

  test("a file path or a web address fits the tools that take one", () => {
    expect(toolDoc(TOOLS[0]!).slots).toContain(SLOT_PATH);
    expect(toolDoc(TOOLS[9]!).slots).toContain(SLOT_URL);
    expect(queryTerms(buildQuery([user("what's in ~/projects/api/server.ts?")])).get(SLOT_PATH)).toBe(1);
    expect(queryTerms(buildQuery([user("go to https://example.org/a.html")])).has(SLOT_PATH)).toBe(false);
    expect(queryTerms(buildQuery([user("go to https://example.org/a.html")])).get(SLOT_URL)).toBe(1);
    expect(queryTerms(buildQuery([user("e.g. the acme/webshop repo")])).has(SLOT_PATH)).toBe(false);
  });

  test("tools of one server are found from the names; after a call, its server weighs in, but the request's own words win", () => {
    const related = relatedTools(TOOLS.map((t) => t.function.name));
    expect(related[0]!.server.map((j) => TOOLS[j]!.function.name)).toEqual(["files_write_file", "files_list_directory", "files_create_directory"]);
    expect(related[7]!.server.map((j) => TOOLS[j]!.function.name)).toEqual(["chat_channel_history"]);
    const afterList: ChatMessage[] = [
      user("what's in my projects folder?"),
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "files_list_directory", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "[FILE] notes.md" },
      { role: "assistant", content: "There is notes.md." },
    ];
    const scores = scoreTools(INDEX, buildQuery([...afterList, user("anything else?")]), "lexical", undefined, undefined, 0.3);
    const withoutBonus = scoreTools(INDEX, buildQuery([...afterList, user("anything else?")]), "lexical", undefined, undefined, 0);
    expect(scores[0]!.fused - withoutBonus[0]!.fused).toBeCloseTo(0.3);
    expect(scores[7]!.fused).toBeCloseTo(withoutBonus[7]!.fused);
    expect(best([...afterList, user("post a message to the team channel that the notes are ready")])).toBe("chat_post_message");
  });

  test("a tool whose long description shares common words with every request wins nothing by that", () => {
    const hub = tool("think_step_by_step", `What to do when the user asks what is going on, what to show, what to list: ${"think about what the question is and what the answer might be. ".repeat(8)}`);
    const tools = [hub, ...TOOLS];
    const calibrated = indexOf(tools);
    const plain = { ...calibrated, typicalLexical: undefined };
    const top = (index: ToolSetIndex, text: string) => {
      const scores = scoreTools(index, buildQuery([user(text)]), "lexical");
      return tools[scores.map((s, i) => [s.fused, i] as const).sort((a, b) => b[0] - a[0])[0]![1]]!.function.name;
    };
    expect(top(plain, "show what the recent messages are")).toBe("think_step_by_step");
    expect(top(calibrated, "show what the recent messages are")).toBe("chat_channel_history");
  });

  test("words no tool uses are bridged to the nearest tool-name word; namespaces are not bridged to", () => {
    const vocab = nameVocabulary(TOOLS.map((t) => toolDoc(t)));
    expect(vocab.map((w) => w.word)).toContain("directory");
    expect(unknownWords("remember the folder please", INDEX.lexical)).toEqual(["remember", "folder"]);
    // Toy embeddings: "folder" points where "directory" does, "remember" nowhere near anything.
    const at = (k: number) => Float32Array.from({ length: vocab.length + 1 }, (_, i) => (i === k ? 1 : 0));
    const vocabVectors = vocab.map((_, i) => at(i));
    const terms = bridgeTerms([at(vocab.findIndex((w) => w.word === "directory")), at(vocab.length)], vocab, vocabVectors, 0.5, 0.6);
    expect([...terms]).toEqual([["directory", 0.6]]);
  });
});

describe("language", () => {
  const tools = () => toolLanguage(TOOLS.flatMap((t) => [t.function.name, t.function.description ?? ""]));

  test("requests made mostly of the tools' words are the tools' language without loading the detector", async () => {
    const known = tools();
    expect(await foreignLanguage("show me the last messages of the channel", known)).toBeUndefined();
    expect(await foreignLanguage("open the file", known)).toBeUndefined();
    expect(await foreignLanguage("", known)).toBeUndefined();
    expect(known.language).toBeUndefined();
    // The process's detector may have been started by another test file: this one has its own.
    const detector = new LanguageDetector();
    const fresh = tools();
    expect(await foreignLanguage("open the file", fresh, detector)).toBeUndefined();
    expect(detector.running()).toBe(false);
    expect(await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", fresh, detector)).toBe("de");
    expect(detector.running()).toBe(true);
    detector.stop();
  });

  test("the detector's Worker exits after an idle spell and starts again for the next foreign request", async () => {
    const detector = new LanguageDetector({ idleMs: 20 });
    const known = tools();
    expect(await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", known, detector)).toBe("de");
    expect(detector.running()).toBe(true);
    while (detector.running()) await Bun.sleep(10);
    expect(await foreignLanguage("montre-moi les derniers messages du canal, s'il te plaît", known, detector)).toBe("fr");
    expect(await foreignLanguage("show me the last messages of the channel", known, detector)).toBeUndefined();
    detector.stop();
    expect(detector.running()).toBe(false);
  });

  test("a detector that does not answer in time fails open, and the tools' language is asked again later", async () => {
    // A zero wait ends before the Worker has even loaded its tables.
    const slow = new LanguageDetector({ timeoutMs: 0 });
    const known = tools();
    expect(await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", known, slow)).toBeUndefined();
    expect(known.language).toBeUndefined();
    slow.stop();
    const detector = new LanguageDetector();
    expect(await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", known, detector)).toBe("de");
    expect(known.language).toBe("en");
    detector.stop();
  });

  test("a German request against English tools is foreign; English ones, with or without the detector's doubts, are not", async () => {
    const known = tools();
    expect(await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", known)).toBe("de");
    expect(known.language).toBe("en");
    expect(await foreignLanguage("montre-moi les derniers messages du canal, s'il te plaît", known)).toBe("fr");
    expect(await foreignLanguage("show me the last messages of the channel", known)).toBeUndefined();
    expect(await foreignLanguage("tell me a joke about penguins", known)).toBeUndefined();
  });
});

/** Bag-of-words vectors: enough to rank, no model needed. */
class WordEmbedder implements Embedder {
  readonly model = "fake-words";
  status: Embedder["status"] = "ready";
  async ready() {
    return true;
  }
  async embed(texts: string[]) {
    return texts.map((t) => {
      const v = new Float32Array(64);
      for (const w of t.toLowerCase().split(/\W+/).filter(Boolean)) v[Number(Bun.hash(w) % 64n)]! += 1;
      const n = Math.hypot(...v) || 1;
      return v.map((x) => x / n);
    });
  }
  close() {}
}

describe("a request in another language", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const run = async (multilingual: boolean) => {
    const dataDir = mkdtempSync(join(tmpdir(), "sel-lang-"));
    dirs.push(dataDir);
    const config = Value.Default(SelectionSchema, { keep: 2, min_tools: 3, embedding_multilingual: multilingual }) as SelectionConfig;
    const selector = new ToolSelector({ dataDir, config, embedder: new WordEmbedder() });
    try {
      return (await selector.select({ model: "m", messages: [user("zeig mir bitte die letzten Nachrichten aus dem Kanal")], tools: TOOLS }, resolveSettings(config, [])))!;
    } finally {
      selector.close();
    }
  };

  test("fails open with an English model, and is ranked by a multilingual one", async () => {
    const english = await run(false);
    expect(english.kept.length).toBe(TOOLS.length);
    expect(english.decisions.every((d) => d.reason === "fail open: request in de")).toBe(true);
    const multilingual = await run(true);
    expect(multilingual.decisions.some((d) => d.reason.startsWith("fail open"))).toBe(false);
    expect(multilingual.kept.length).toBeLessThan(TOOLS.length);
  });
});

describe("selector with the offline English model", () => {
  const shared = join(import.meta.dir, "../../shared");
  const tools = JSON.parse(readFileSync(join(shared, "datasets/tool-selection-general/tools.json"), "utf8")) as Tool[];
  const dataDir = mkdtempSync(join(tmpdir(), "sel-general-"));
  const config = Value.Default(SelectionSchema, { embedding_model: "universal-sentence-encoder-lite-en", models_dir: join(shared, "models"), deadline_ms: 60_000 }) as SelectionConfig;
  const selector = new ToolSelector({ dataDir, config });
  const settings = resolveSettings(config, []);
  const select = async (text: string) => (await selector.select({ model: "m", messages: [user(text)], tools }, settings))!;
  beforeAll(async () => {
    expect(await selector.ready()).toBe(true);
  }, 120_000);
  afterAll(() => {
    selector.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("a Dutch request keeps every tool; small talk keeps at most small_talk_keep; an English request is cut", async () => {
    const dutch = await select("maak een nieuwe map aan in mijn projectenmap en zet er een leesmij-bestand in");
    expect(dutch.kept.length).toBe(tools.length);
    expect(dutch.decisions[0]!.reason).toBe("fail open: request in nl");
    const thanks = await select("haha thanks, that's all for now");
    expect(thanks.kept.length).toBeLessThanOrEqual(config.small_talk_keep);
    const english = await select("create a new directory called reports in ~/projects/api");
    expect(english.kept.map((t) => t.function.name)).toContain("mcp_filesystem_create_directory");
    expect(english.kept.length).toBeLessThan(tools.length / 4);
  }, 60_000);

  test("a reply to small talk is small talk while no tool was called; after a tool call it is not", async () => {
    const asked: ChatMessage[] = [user("could you tell me a bedtime story?"), { role: "assistant", content: "Of course! What should it be about?" }, user("dragons")];
    const chat = (await selector.select({ model: "m", messages: asked, tools }, settings))!;
    expect(chat.kept.length).toBeLessThanOrEqual(config.small_talk_keep);
    expect(chat.decisions.filter((d) => d.kept).every((d) => d.reason.startsWith("rank"))).toBe(true);
    // The same exchange after the assistant called a tool: the reply may continue that task.
    const call = { id: "c1", type: "function" as const, function: { name: "mcp_filesystem_list_directory", arguments: '{"path":"~"}' } };
    const afterCall: ChatMessage[] = [asked[0]!, { role: "assistant", content: null, tool_calls: [call] }, { role: "tool", tool_call_id: "c1", content: "stories.txt" }, asked[1]!, asked[2]!];
    const task = (await selector.select({ model: "m", messages: afterCall, tools }, settings))!;
    expect(task.kept.length).toBeGreaterThan(config.small_talk_keep + 1);
  }, 60_000);
});

describe("embedding batches", () => {
  test("texts of similar length share a sub-batch, within runs of the HTTP embedder's size", () => {
    const texts = ["the build on main went red after my push, what happened?", "red", "push", "build main", "show me the open pull requests on the web shop"];
    // The words go together (short), the two sentences together (within twice the shorter's length).
    expect(lengthBuckets(texts)).toEqual([[1, 2, 3], [4, 0]]);
    // Runs of `max` texts in their order are grouped on their own: an HTTP upstream gets the same runs.
    expect(lengthBuckets(texts, 2)).toEqual([[1], [0], [2, 3], [4]]);
    expect(lengthBuckets(["x".repeat(30), "x".repeat(61), "x".repeat(60)])).toEqual([[0, 2], [1]]);
    expect(lengthBuckets([])).toEqual([]);
  });
});
