/**
 * Semantic ranking: cosine similarity between the query's embeddings and each tool's view
 * embeddings (all L2-normalised, so cosine = dot product). A tool scores the best match among its
 * views (name, description, its sentences and quoted examples) per query segment; segments are
 * combined by their recency weights: score = Σ w_s · max_v cos(q_s, v) / Σ w_s.
 */

/** Dot product of two equal-length vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * @param toolViews per tool (index order), the embeddings of its views
 * @param queries the embeddings of the query segments, with their weights
 * @returns per tool, the weighted cosine score in [-1, 1]
 */
export function semanticScores(toolViews: readonly (readonly Float32Array[])[], queries: readonly { vector: Float32Array; weight: number }[]): Float64Array {
  const out = new Float64Array(toolViews.length);
  const total = queries.reduce((s, q) => s + q.weight, 0);
  if (total <= 0) return out;
  toolViews.forEach((views, i) => {
    let score = 0;
    for (const { vector, weight } of queries) {
      let best = -1;
      for (const v of views) best = Math.max(best, dot(vector, v));
      score += weight * best;
    }
    out[i] = score / total;
  });
  return out;
}
