/**
 * Semantic ranking: cosine similarity between the query's embeddings and each tool's view
 * embeddings (all L2-normalised, so cosine = dot product). A tool scores the best match among its
 * views (name, description, its sentences and quoted examples) per query segment; segments are
 * combined by their recency weights: score = Σ w_s · max_v cos(q_s, v) / Σ w_s.
 *
 * A tool set's views are copied once into one row-major matrix, and the best cosines per tool of
 * the last few query vectors are remembered (the small-talk check and the ranking read the same
 * vector): 108 tools have ~350 views of 512 floats, and these passes were the largest part of the
 * selector's main-thread work per request.
 */

/** Dot product of two equal-length vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Per tool (index order), the embeddings of its views. */
export type ToolViews = readonly (readonly Float32Array[])[];

/** One tool set's views as a matrix, and the best cosines per tool of the query vectors seen. */
interface ViewMatrix {
  /** Rows of `dim` floats: the views of tool 0, then of tool 1, ... */
  data: Float32Array;
  dim: number;
  /** Per tool, the row after its last view. */
  ends: Int32Array;
  /** The last RECENT_VECTORS query vectors' results, oldest first (a WeakMap of every vector seen slowed the collector). */
  best: Map<Float32Array, Float64Array>;
}

/** Query vectors whose results are remembered per tool set: one request reads at most a few vectors twice. */
const RECENT_VECTORS = 16;

/** Matrices by the view arrays they were built from (the selector keeps one array per tool set). */
const matrices = new WeakMap<ToolViews, ViewMatrix>();

function matrixOf(toolViews: ToolViews, dim: number): ViewMatrix {
  const known = matrices.get(toolViews);
  if (known?.dim === dim) return known;
  const data = new Float32Array(toolViews.reduce((s, v) => s + v.length, 0) * dim);
  const ends = new Int32Array(toolViews.length);
  let row = 0;
  toolViews.forEach((views, i) => {
    for (const v of views) data.set(v.subarray(0, dim), dim * row++);
    ends[i] = row;
  });
  const matrix: ViewMatrix = { data, dim, ends, best: new Map() };
  matrices.set(toolViews, matrix);
  return matrix;
}

/**
 * Per tool (index order), the best cosine between `vector` and the tool's views (-1 for a tool
 * without views). Remembered for the last RECENT_VECTORS vector objects of each tool set.
 */
export function bestViewCosines(toolViews: ToolViews, vector: Float32Array): Float64Array {
  const m = matrixOf(toolViews, vector.length);
  const known = m.best.get(vector);
  if (known) return known;
  const { data, dim, ends } = m;
  const q = Float64Array.from(vector);
  // Four partial sums: no loop-carried dependency on one accumulator (about 1.5x faster in Bun).
  const tail = dim - (dim % 4);
  const out = new Float64Array(ends.length);
  let row = 0;
  for (let t = 0; t < ends.length; t++) {
    let best = -1;
    for (; row < ends[t]!; row++) {
      const o = row * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < tail; i += 4) {
        s0 += data[o + i]! * q[i]!;
        s1 += data[o + i + 1]! * q[i + 1]!;
        s2 += data[o + i + 2]! * q[i + 2]!;
        s3 += data[o + i + 3]! * q[i + 3]!;
      }
      for (let i = tail; i < dim; i++) s0 += data[o + i]! * q[i]!;
      best = Math.max(best, s0 + s1 + s2 + s3);
    }
    out[t] = best;
  }
  if (m.best.size >= RECENT_VECTORS) m.best.delete(m.best.keys().next().value!);
  m.best.set(vector, out);
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
