/**
 * Which language a request is in, against the language its tools are described in. An English
 * embedding model and an English lexical ranker rank a German request close to arbitrarily, so
 * such a request is ranked by a multilingual embedding model alone, or, with none, keeps every tool
 * (rank.ts: a weak ranking fails open).
 *
 * Detection: the `eld` library (Efficient Language Detector, n-gram model, 60 languages; its
 * "small" database, about 1.6 MB, loaded on first use). A message counts as foreign only when the
 * detector is sure of it (`isReliable()`), names another language than the tools', and fewer than
 * KNOWN_SHARE of its words occur in the tools' own texts: an English request full of tool words
 * ("open the garage door") stays English even when the detector hesitates.
 */
import { words } from "./text.ts";

interface Detector {
  detect(text: string): { language: string; isReliable(): boolean };
}

let detector: Detector | undefined;
let loading: Promise<Detector | undefined> | undefined;

/** Loads the detector once; resolves undefined (and language checks are skipped) when it cannot load. */
export function loadDetector(): Promise<Detector | undefined> {
  loading ??= import("eld/small").then(
    (m) => (detector = (m.eld ?? m.default) as Detector),
    () => undefined,
  );
  return loading;
}

/** Share of a message's words found in the tools' texts above which it is taken as the tools' language. */
const KNOWN_SHARE = 0.5;
/** Characters of tool text the tools' language is judged on: plenty for an n-gram detector. */
const TOOL_SAMPLE_CHARS = 4000;

/** What is known about the tools' language: the detected language and the words their texts use. */
export interface ToolLanguage {
  /** ISO 639-1 code, or "" when not reliably detected. */
  language: string;
  vocabulary: Set<string>;
}

/** @param texts the tools' names, descriptions and parameter texts */
export function toolLanguage(texts: readonly string[]): ToolLanguage {
  const vocabulary = new Set<string>();
  for (const t of texts) for (const w of words(t)) vocabulary.add(w);
  const sample = texts.join(". ").slice(0, TOOL_SAMPLE_CHARS);
  const result = detector?.detect(sample);
  return { language: result?.isReliable() ? result.language : "", vocabulary };
}

/**
 * The language of `text` when it is reliably another one than the tools' (ISO 639-1 code), else
 * undefined (the tools' language, unsure, or no detector loaded yet).
 */
export function foreignLanguage(text: string, tools: ToolLanguage): string | undefined {
  if (!detector || !tools.language || !text.trim()) return undefined;
  const result = detector.detect(text);
  if (!result.isReliable() || !result.language || result.language === tools.language) return undefined;
  const letters = words(text).filter((w) => /^[a-z]{2,}$/.test(w));
  // Words of other scripts are split away by words(); a message with none of the tools' letters is foreign.
  if (letters.length > 0 && letters.filter((w) => tools.vocabulary.has(w)).length / letters.length >= KNOWN_SHARE) return undefined;
  return result.language;
}
