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

/** A weighted bag of query terms (stemmed term -> weight). */
export type QueryTerms = ReadonlyMap<string, number>;

export class LexicalIndex {
  /** Per tool: stemmed term -> length-normalised, field-weighted term frequency. */
  private readonly tf: Map<string, number>[];
  private readonly idf = new Map<string, number>();
  /** Per tool: the stemmed name words that are not namespaces (in more than a quarter of the names). */
  private readonly nameTerms: Set<string>[];

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
    const nameDf = new Map<string, number>();
    const names = fieldTerms.map((ft) => new Set(ft[0]));
    for (const set of names) for (const t of set) nameDf.set(t, (nameDf.get(t) ?? 0) + 1);
    const common = Math.max(3, n / 4);
    this.nameTerms = names.map((set) => new Set([...set].filter((t) => (nameDf.get(t) ?? 0) <= common)));
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
