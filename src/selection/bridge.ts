/**
 * Bridging words: a request word that no tool uses ("picture", "folder") is joined by the tool-name
 * word nearest to it in the embedding space ("image", "files"), so the
 * lexical ranking can match a tool described in its own data model's words. It is query expansion
 * with embeddings (as in Kuzi, Shtok and Kurland, "Query Expansion Using Word Embeddings", CIKM
 * 2016), limited to the words of the request's tool names: the vocabulary is the tool list's own,
 * not a list written for a field.
 *
 * Tool-name words are embedded once per tool set; the request's unknown words are embedded in the
 * same batch as its query segments.
 */
import type { LexicalIndex } from "./lexical.ts";
import { bestViewCosines } from "./semantic.ts";
import { isStopword, splitIdentifier, stem, words } from "./text.ts";
import type { ToolDoc } from "./tool-doc.ts";

/** Shortest word bridged: shorter words are abbreviations and particles whose embeddings are noise. */
const MIN_LENGTH = 3;
/** Most unknown words of one request embedded (the rest are left as they are). */
const MAX_UNKNOWN = 8;

export interface BridgeWord {
  word: string;
  stem: string;
}

/**
 * The words of the tools' names that can be bridged to: alphabetic, at least MIN_LENGTH letters,
 * in at most a quarter of the names (at least 3), as namespaces ("mcp", "hass") say nothing.
 */
export function nameVocabulary(docs: readonly ToolDoc[]): BridgeWord[] {
  const df = new Map<string, number>();
  for (const d of docs) for (const w of new Set(splitIdentifier(d.name))) df.set(w, (df.get(w) ?? 0) + 1);
  const common = Math.max(3, docs.length / 4);
  return [...df].filter(([w, n]) => n <= common && w.length >= MIN_LENGTH && /^[a-z]+$/.test(w)).map(([word]) => ({ word, stem: stem(word) }));
}

/** Content words of `text` (alphabetic, at least MIN_LENGTH letters) that no tool of `lexical` has, at most MAX_UNKNOWN, in order. */
export function unknownWords(text: string, lexical: LexicalIndex): string[] {
  const out = new Set<string>();
  for (const w of words(text)) {
    if (out.size >= MAX_UNKNOWN) break;
    if (w.length >= MIN_LENGTH && /^[a-z]+$/.test(w) && !isStopword(w) && !lexical.has(stem(w))) out.add(w);
  }
  return [...out];
}

/**
 * For each unknown word, the stem of the nearest name word when their cosine is at least
 * `minCosine`, with `weight`; the best weight per stem.
 * @param unknown the unknown words' embeddings; @param vocabulary the name words' embeddings, in nameVocabulary order
 */
export function bridgeTerms(unknown: readonly Float32Array[], vocabulary: readonly BridgeWord[], vocabularyVectors: readonly Float32Array[], minCosine: number, weight: number): Map<string, number> {
  const out = new Map<string, number>();
  let asViews = oneViewEach.get(vocabularyVectors);
  if (!asViews) oneViewEach.set(vocabularyVectors, (asViews = vocabularyVectors.map((v) => [v])));
  for (const u of unknown) {
    let best = -1;
    let at = -1;
    bestViewCosines(asViews, u).forEach((c, i) => {
      if (c > best) [best, at] = [c, i];
    });
    if (at >= 0 && best >= minCosine) out.set(vocabulary[at]!.stem, Math.max(out.get(vocabulary[at]!.stem) ?? 0, weight));
  }
  return out;
}

/** Each tool-name word's vector as a one-view "tool", so the nearest word is found by semantic.ts's matrix pass. */
const oneViewEach = new WeakMap<readonly Float32Array[], Float32Array[][]>();
