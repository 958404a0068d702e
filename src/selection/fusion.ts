/**
 * Fusion of the lexical and semantic rankings into one score per tool.
 *
 * Rule (calibrated weighted sum): each ranking is min-max normalised over the request's tools to
 * [0, 1] (BM25 scores divided by the best score, so a request with no matching word gives 0 to all;
 * cosines mapped from [min, max] to [0, 1]), then
 *   fused = LEXICAL_WEIGHT · lexical' + (1 − LEXICAL_WEIGHT) · semantic'.
 * Normalising per request keeps the weight meaningful whatever the number of tools and the scale of
 * the embedding model's cosines. Modes `lexical` and `semantic` use one normalised ranking alone.
 */

export const LEXICAL_WEIGHT = 0.6;

/** Scores divided by their maximum (all 0 when the maximum is not positive). */
export function normaliseByMax(scores: Float64Array): Float64Array {
  let max = 0;
  for (const s of scores) max = Math.max(max, s);
  return max > 0 ? scores.map((s) => s / max) : new Float64Array(scores.length);
}

/** Scores mapped from [min, max] to [0, 1] (all 0 when they are equal). */
export function normaliseMinMax(scores: Float64Array): Float64Array {
  let min = Infinity;
  let max = -Infinity;
  for (const s of scores) {
    min = Math.min(min, s);
    max = Math.max(max, s);
  }
  return max > min ? scores.map((s) => (s - min) / (max - min)) : new Float64Array(scores.length);
}

/** Fuses normalised scores; `semantic` undefined means lexical alone. */
export function fuse(lexical: Float64Array | undefined, semantic: Float64Array | undefined, lexicalWeight = LEXICAL_WEIGHT): Float64Array {
  if (lexical && !semantic) return lexical;
  if (semantic && !lexical) return semantic;
  if (!lexical || !semantic) return new Float64Array(0);
  return lexical.map((l, i) => lexicalWeight * l + (1 - lexicalWeight) * semantic[i]!);
}
