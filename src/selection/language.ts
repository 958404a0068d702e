/**
 * Which language a request is in, against the language its tools are described in. An English
 * embedding model and an English lexical ranker rank a German request close to arbitrarily, so
 * such a request is ranked by a multilingual embedding model alone, or, with none, keeps every tool
 * (rank.ts: a weak ranking fails open).
 *
 * A message counts as foreign only when fewer than KNOWN_SHARE of its words occur in the tools' own
 * texts (an English request full of tool words, "open the garage door", stays English), and the
 * language detector is sure of it (`isReliable()`) and names another language than the tools'.
 * The word-share test comes first and is cheap: the detector is imported only when a message passes
 * it, so a proxy whose requests use their tools' words never loads it, and the tools' language is
 * detected then, once per tool set.
 *
 * Detection: the `eld` library (Efficient Language Detector, n-gram model, 60 languages), its
 * "extrasmall" database: about +38 MiB RSS once loaded, against +63 MiB for "small"; on the six
 * evaluation sets it takes 2 of 910 English requests for another language (small: 3) and detects
 * 46 of the 50 foreign ones (small: 47), with the same hybrid recall. franc-min (+9 MiB) took 27
 * English requests for another language. Measured in docs/benchmarks.md, "Language detector".
 * Once imported it stays: an ES module cannot be unloaded.
 */
import { cappedCopy, words } from "./text.ts";

interface Detector {
  detect(text: string): { language: string; isReliable(): boolean };
}

let detector: Detector | undefined;
let loading: Promise<Detector | undefined> | undefined;

/** Loads the detector once; resolves undefined (and language checks are skipped) when it cannot load. */
function loadDetector(): Promise<Detector | undefined> {
  loading ??= import("eld/extrasmall").then(
    (m) => (detector = (m.eld ?? m.default) as Detector),
    () => undefined,
  );
  return loading;
}

/** True once the detector has been imported (for tests and the footprint bench). */
export function detectorLoaded(): boolean {
  return detector !== undefined;
}

/** Share of a message's words found in the tools' texts above which it is taken as the tools' language. */
const KNOWN_SHARE = 0.5;
/** Characters of tool text the tools' language is judged on: plenty for an n-gram detector. */
const TOOL_SAMPLE_CHARS = 4000;

/** What is known about the tools' language: the words their texts use, and (once detected) the language. */
export interface ToolLanguage {
  vocabulary: Set<string>;
  /** The start of the tools' texts, which their language is detected on. */
  sample: string;
  /** ISO 639-1 code, "" when not reliably detected, undefined until first needed. */
  language?: string;
}

/** @param texts the tools' names, descriptions and parameter texts */
export function toolLanguage(texts: readonly string[]): ToolLanguage {
  const vocabulary = new Set<string>();
  for (const t of texts) for (const w of words(t)) vocabulary.add(w);
  // A copy, not a slice: the sample outlives the request in the tool-set cache, the joined texts must not.
  return { vocabulary, sample: cappedCopy(texts.join(". "), TOOL_SAMPLE_CHARS) };
}

/**
 * The language of `text` when it is reliably another one than the tools' (ISO 639-1 code), else
 * undefined (mostly the tools' words, the tools' language, unsure, or the detector failed to load).
 * Loads the detector on the first message that passes the word-share test.
 */
export async function foreignLanguage(text: string, tools: ToolLanguage): Promise<string | undefined> {
  if (!text.trim()) return undefined;
  const letters = words(text).filter((w) => /^[a-z]{2,}$/.test(w));
  // Words of other scripts are split away by words(); a message with none of the tools' letters is foreign.
  if (letters.length > 0 && letters.filter((w) => tools.vocabulary.has(w)).length / letters.length >= KNOWN_SHARE) return undefined;
  const d = detector ?? (await loadDetector());
  if (!d) return undefined;
  if (tools.language === undefined) {
    const own = d.detect(tools.sample);
    tools.language = own.isReliable() ? own.language : "";
  }
  if (!tools.language) return undefined;
  const result = d.detect(text);
  if (!result.isReliable() || !result.language || result.language === tools.language) return undefined;
  return result.language;
}
