/**
 * Semantic ranking: cosine similarity between the query's embeddings and each tool's view
 * embeddings (all L2-normalised, so cosine = dot product). A tool scores the best match among its
 * views (name, description, its sentences and quoted examples) per query segment; segments are
 * combined by their recency weights: score = Σ w_s · max_v cos(q_s, v) / Σ w_s.
 *
 * A pass over a tool set's views per query vector runs `dot` with the query in doubles, and its
 * result is remembered for the last few vectors of the tool set (the small-talk check and the
 * ranking read the same vector): 108 tools have ~350 views of 512 floats, and these
 * passes, a `dot` per view and again per reader, were the largest part of the selector's
 * main-thread work per request.
 */

/**
 * Dot product of two vectors over their common length. Four partial sums: no loop-carried
 * dependency on one accumulator (about 1.5x faster in Bun).
 */
export function dot(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  const n = Math.min(a.length, b.length);
  const tail = n - (n % 4);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < tail; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (let i = tail; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

/** Per tool (index order), the embeddings of its views. */
export type ToolViews = readonly (readonly Float32Array[])[];

/** Query vectors whose results are remembered per tool set: one request reads at most a few vectors twice. */
const RECENT_VECTORS = 16;
/**
 * Per tool set (the selector keeps one views array per set), the results of its last RECENT_VECTORS
 * vectors, oldest first. (A WeakMap of every vector seen slowed the collector.)
 */
const recent = new WeakMap<ToolViews, Map<Float32Array, Float64Array>>();

/**
 * Per tool (index order), the best cosine between `vector` and the tool's views (-1 for a tool
 * without views). Remembered for the last RECENT_VECTORS vector objects of each tool set.
 */
export function bestViewCosines(toolViews: ToolViews, vector: Float32Array): Float64Array {
  let memo = recent.get(toolViews);
  if (!memo) recent.set(toolViews, (memo = new Map()));
  const known = memo.get(vector);
  if (known) return known;
  const q = Float64Array.from(vector);
  const out = new Float64Array(toolViews.length);
  for (let t = 0; t < toolViews.length; t++) {
    let best = -1;
    for (const v of toolViews[t]!) best = Math.max(best, dot(v, q));
    out[t] = best;
  }
  if (memo.size >= RECENT_VECTORS) memo.delete(memo.keys().next().value!);
  memo.set(vector, out);
  return out;
}

/**
 * @param toolViews per tool (index order), the embeddings of its views
 * @param queries the embeddings of the query segments, with their weights
 * @returns per tool, the weighted cosine score in [-1, 1]
 */
export function semanticScores(toolViews: ToolViews, queries: readonly { vector: Float32Array; weight: number }[]): Float64Array {
  const out = new Float64Array(toolViews.length);
  const total = queries.reduce((s, q) => s + q.weight, 0);
  if (total <= 0) return out;
  for (const { vector, weight } of queries) {
    const best = bestViewCosines(toolViews, vector);
    for (let i = 0; i < out.length; i++) out[i]! += weight * best[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= total;
  return out;
}
