/**
 * Lexical ranking: BM25F (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and
 * Beyond", 2009) over the fields of each tool. Field term frequencies are weighted and length-
 * normalised per field, summed, then saturated once with k1; IDF is BM25's
 * log(1 + (N - df + 0.5) / (df + 0.5)) over the tools of the request.
 */
import { terms } from "./text.ts";
import type { ToolDoc, ToolFields } from "./tool-doc.ts";

/** How much a term occurrence in each field counts. The name is the strongest evidence of what a tool does. */
export const FIELD_WEIGHTS: Readonly<Record<keyof ToolFields, number>> = {
  name: 3,
  description: 1,
  examples: 2,
  paramNames: 0.4,
  paramDescriptions: 0.4,
  enums: 0.4,
};

const FIELD_KEYS = Object.keys(FIELD_WEIGHTS) as (keyof ToolFields)[];
/** Term frequency given to a slot pseudo-term (tool-doc.ts SLOT_*) of a tool that takes such values. */
const SLOT_WEIGHT = 1;
const K1 = 1.2;
const B = 0.6;

/** Weight of a misspelt query term's correction, as a share of the term's own weight. */
const TYPO_WEIGHT = 0.6;
/** Shortest query term that is corrected: shorter words have too many neighbours. */
const TYPO_MIN_LENGTH = 4;
/** Corrections remembered per index before the memo is emptied (it sees every unknown query word). */
const MAX_CORRECTIONS = 4096;

/**
 * Optimal string alignment distance (Levenshtein with adjacent transpositions) between `a` and `b`,
 * or `max + 1` as soon as it must exceed `max`.
 */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > max) return max + 1;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** A weighted bag of query terms (stemmed term -> weight). */
export type QueryTerms = ReadonlyMap<string, number>;

export class LexicalIndex {
  /** Per tool: stemmed term -> length-normalised, field-weighted term frequency. */
  private readonly tf: Map<string, number>[];
  private readonly idf = new Map<string, number>();
  /** Per tool: the stemmed name words that are not namespaces (in more than a quarter of the names). */
  private readonly nameTerms: Set<string>[];
  /** The union of nameTerms. */
  private readonly nameWords: Set<string>;
  /** The terms a misspelling can be corrected to (not slot pseudo-terms), by length, in index order. */
  private readonly byLength: string[][] = [];
  /** Each term's position in the index (the first one found wins a tie of distance and IDF). */
  private readonly position = new Map<string, number>();
  /** Misspelt query term -> the index term it most likely means (undefined: none close enough). */
  private readonly corrections = new Map<string, string | undefined>();

  constructor(docs: readonly ToolDoc[]) {
    const fieldTerms = docs.map((d) => FIELD_KEYS.map((f) => terms(d.fields[f])));
    const avg = FIELD_KEYS.map((_, i) => Math.max(1, fieldTerms.reduce((s, ft) => s + ft[i]!.length, 0) / Math.max(1, docs.length)));
    const df = new Map<string, number>();
    const tfs = fieldTerms.map((ft) => {
      const tf = new Map<string, number>();
      ft.forEach((list, i) => {
        const norm = FIELD_WEIGHTS[FIELD_KEYS[i]!] / (1 - B + (B * list.length) / avg[i]!);
        for (const t of list) tf.set(t, (tf.get(t) ?? 0) + norm);
      });
      return tf;
    });
    docs.forEach((d, i) => {
      for (const slot of d.slots) tfs[i]!.set(slot, SLOT_WEIGHT);
    });
    for (const tf of tfs) for (const t of tf.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    this.tf = tfs;
    const n = docs.length;
    for (const [t, d] of df) this.idf.set(t, Math.log(1 + (n - d + 0.5) / (d + 0.5)));
    for (const t of this.idf.keys()) {
      this.position.set(t, this.position.size);
      if (t.length >= TYPO_MIN_LENGTH && !t.startsWith("#")) (this.byLength[t.length] ??= []).push(t);
    }
    const nameDf = new Map<string, number>();
    const names = fieldTerms.map((ft) => new Set(ft[0]));
    for (const set of names) for (const t of set) nameDf.set(t, (nameDf.get(t) ?? 0) + 1);
    const common = Math.max(3, n / 4);
    this.nameTerms = names.map((set) => new Set([...set].filter((t) => (nameDf.get(t) ?? 0) <= common)));
    this.nameWords = new Set(this.nameTerms.flatMap((set) => [...set]));
  }

  /**
   * `query` with each misspelt term ("timr") joined by the index term it most likely means
   * ("timer") at TYPO_WEIGHT of its weight. A term is misspelt when no tool has it, it has at least
   * TYPO_MIN_LENGTH letters and an index term is within edit distance 1 (2 from eight letters): the
   * nearest, the rarer one on a tie. Other terms are unchanged.
   */
  withCorrections(query: QueryTerms): QueryTerms {
    let out: Map<string, number> | undefined;
    for (const [term, weight] of query) {
      if (this.idf.has(term) || term.length < TYPO_MIN_LENGTH || !/^[a-z]+$/.test(term)) continue;
      const fix = this.correction(term);
      if (!fix) continue;
      out ??= new Map(query);
      out.set(fix, Math.max(out.get(fix) ?? 0, weight * TYPO_WEIGHT));
    }
    return out ?? query;
  }

  private correction(term: string): string | undefined {
    if (this.corrections.has(term)) return this.corrections.get(term);
    const max = term.length >= 8 ? 2 : 1;
    let best: string | undefined;
    let bestDistance = max + 1;
    // Only terms whose length is within `max` of the term's can be that close.
    for (let length = Math.max(TYPO_MIN_LENGTH, term.length - max); length <= term.length + max; length++) {
      for (const candidate of this.byLength[length] ?? []) {
        const d = editDistance(term, candidate, max);
        const tie = d === bestDistance && best !== undefined && (this.idf.get(candidate)! > this.idf.get(best)! || (this.idf.get(candidate) === this.idf.get(best) && this.position.get(candidate)! < this.position.get(best)!));
        if (d < bestDistance || tie) {
          best = candidate;
          bestDistance = d;
        }
      }
    }
    if (this.corrections.size >= MAX_CORRECTIONS) this.corrections.clear();
    this.corrections.set(term, best);
    return best;
  }

  /** True when the (stemmed) term is a word of some tool's name that is not a namespace. */
  isNameWord(term: string): boolean {
    return this.nameWords.has(term);
  }

  /** True when some tool has the (stemmed) term. */
  has(term: string): boolean {
    return this.idf.has(term);
  }

  /** Per tool, the share of its name words (namespaces left out) that the query contains, weighted: in [0, 1]. */
  nameCoverage(query: QueryTerms): Float64Array {
    return Float64Array.from(this.nameTerms, (set) => {
      if (set.size === 0) return 0;
      let hit = 0;
      for (const t of set) hit += Math.min(1, query.get(t) ?? 0);
      return hit / set.size;
    });
  }

  /** BM25F score of every tool (index order) for `query`; 0 where no query term occurs. */
  score(query: QueryTerms): Float64Array {
    const out = new Float64Array(this.tf.length);
    for (const [term, weight] of query) {
      const idf = this.idf.get(term);
      if (idf === undefined) continue;
      this.tf.forEach((tf, i) => {
        const f = tf.get(term);
        if (f) out[i]! += weight * idf * ((f * (K1 + 1)) / (f + K1));
      });
    }
    return out;
  }
}
