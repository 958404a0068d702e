/**
 * Sub-batches for a sentence-embedding model: which texts are embedded together. Used by the
 * embedding Worker (embed-worker.ts) and by the test fake that serves the same model over HTTP, so
 * both compute the same vectors. The grouping also bounds the padded input tensor, and with it the
 * model's activations, whatever a client's tools say (issue 7, docs/security.md).
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
 * Most token slots (texts x the padded length of the longest) per sub-batch. The activations grow
 * with the slots (USE-lite, q8, one thread, measured on 64 texts of ~600 characters, i.e. 128 tokens
 * each): all 64 in one call peaked at +600 MiB over the loaded model (any 64 tool descriptions over
 * ~600 characters made such a call), 1,024 slots at +130 MiB, 512 at +75 MiB, at about the same time
 * per text; 256 slots took a third longer.
 */
const SLOT_BUDGET = 512;
/** Characters per token beyond which a text is surely past the model's length: longer texts are cut before tokenising. */
const MAX_CHARS_PER_TOKEN = 16;
/** Tokens taken as a model's longest input when its tokenizer names none (transformers.js then says Infinity). */
const DEFAULT_MAX_TOKENS = 512;

/**
 * `texts`' indices in sub-batches: the texts are cut into runs of `max` in their order (an HTTP
 * embedder sends runs of that size, http-embedder.ts, and a q8 model's activations are quantised
 * per batch, so the grouping must be the same everywhere for equal vectors), and each run into
 * groups, shortest first, whose lengths in characters are within BUCKET_RATIO of the group's
 * shortest (or all at most BUCKET_SHORT_CHARS), and whose token slots stay within SLOT_BUDGET: a
 * text's tokens are bounded by its characters plus two special tokens, and by `maxTokens`.
 * @param maxTokens the model's longest input, tokens
 */
export function lengthBuckets(texts: readonly string[], max = SUB_BATCH, maxTokens = DEFAULT_MAX_TOKENS): number[][] {
  const slots = (length: number) => Math.min(length + 2, maxTokens);
  const groups: number[][] = [];
  for (let start = 0; start < texts.length; start += max) {
    const order = texts.slice(start, start + max).map((_, i) => start + i).sort((a, b) => texts[a]!.length - texts[b]!.length);
    let group: number[] = [];
    let first = 0;
    for (const i of order) {
      const length = texts[i]!.length;
      // Sorted by length: `i` is the longest so far, and sets the padded length of the group.
      const unlike = length > BUCKET_SHORT_CHARS && length > BUCKET_RATIO * first;
      if (group.length > 0 && (unlike || (group.length + 1) * slots(length) > SLOT_BUDGET)) {
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

/** What one call of a feature-extraction model returns: `dims` ends with the vector size, `data` is batch x dim floats. */
export interface ModelOutput {
  dims: readonly number[];
  data: Float32Array | Float64Array | number[];
}

/**
 * Embeds `texts` with `model`, one call per sub-batch (lengthBuckets), texts past the model's
 * length cut first: the tokenizer reads a text whole before it truncates.
 * @param maxTokens the model's longest input (its tokenizer's model_max_length; Infinity or 0: DEFAULT_MAX_TOKENS)
 * @returns texts x dim floats, in the order of `texts`
 */
export async function embedInSubBatches(texts: readonly string[], maxTokens: number, model: (batch: string[]) => Promise<ModelOutput>): Promise<{ dim: number; data: Float32Array }> {
  const longest = Number.isFinite(maxTokens) && maxTokens > 0 ? maxTokens : DEFAULT_MAX_TOKENS;
  const cut = texts.map((t) => (t.length > longest * MAX_CHARS_PER_TOKEN ? t.slice(0, longest * MAX_CHARS_PER_TOKEN) : t));
  let data = new Float32Array(0);
  let dim = 0;
  for (const group of lengthBuckets(cut, SUB_BATCH, longest)) {
    const out = await model(group.map((i) => cut[i]!));
    if (dim === 0) data = new Float32Array(cut.length * (dim = out.dims.at(-1)!));
    group.forEach((i, g) => data.set(out.data.slice(g * dim, (g + 1) * dim), i * dim));
  }
  return { dim, data };
}
