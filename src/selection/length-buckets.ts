/**
 * Sub-batches for a sentence-embedding model: which texts are embedded together. Used by the
 * embedding Worker (embed-worker.ts) and by the test fake that serves the same model over HTTP, so
 * both compute the same vectors.
 */

/** Most texts in one sub-batch: bounds the padded input tensor (64 texts of at most 128 tokens). */
export const SUB_BATCH = 64;

/**
 * Texts of similar length share a sub-batch: a batch is padded to its longest text, and inference
 * costs about the padded tokens (USE-lite, one query with four one-word bridge texts: 8.1 ms in one
 * batch, 6.0 ms with the words apart; a sub-batch's own cost is ~0.5 ms).
 */
const BUCKET_RATIO = 2;
/** Texts up to this many characters (a few tokens) go together whatever their ratio: padding them costs little. */
const BUCKET_SHORT_CHARS = 24;

/**
 * `texts`' indices in sub-batches: the texts are cut into runs of `max` in their order (an HTTP
 * embedder sends runs of that size, http-embedder.ts, and a q8 model's activations are quantised
 * per batch, so the grouping must be the same everywhere for equal vectors), and each run into
 * groups, shortest first, whose lengths in characters are within BUCKET_RATIO of the group's
 * shortest (or all at most BUCKET_SHORT_CHARS).
 */
export function lengthBuckets(texts: readonly string[], max = SUB_BATCH): number[][] {
  const groups: number[][] = [];
  for (let start = 0; start < texts.length; start += max) {
    const order = texts.slice(start, start + max).map((_, i) => start + i).sort((a, b) => texts[a]!.length - texts[b]!.length);
    let group: number[] = [];
    let first = 0;
    for (const i of order) {
      const length = texts[i]!.length;
      if (group.length > 0 && length > BUCKET_SHORT_CHARS && length > BUCKET_RATIO * first) {
        groups.push(group);
        group = [];
      }
      if (group.length === 0) first = Math.max(1, length);
      group.push(i);
    }
    if (group.length > 0) groups.push(group);
  }
  return groups;
}
