/**
 * Token counts in o200k_base (the GPT-4o family's encoding), two ways:
 *
 * - `estimateTokens` / `toolTokens`: an estimate, one linear pass, no encoder. Tool selection counts
 *   tools with it: an o200k encoder costs ~88 MiB (too much next to Home Assistant on a Raspberry
 *   Pi when selection is all that needs it), and js-tiktoken's BPE is quadratic in the length of a
 *   piece, so one 16 KB word in a tool's description held the event loop for 20 s. The text is split
 *   with o200k's pre-tokenizer pattern and each piece costed by its kind and length. Calibration
 *   (bench/token-estimate.ts; docs/benchmarks.md): against js-tiktoken on the minified JSON of 184 real
 *   tool definitions, within 1.3% per tool set and 2.6% RMS per tool; long runs without spaces,
 *   base64 and hex are underestimated by 11-29%.
 * - `encoding()`: the js-tiktoken encoder itself, loaded once on first use (concurrent callers share
 *   the one load), for callers that must encode or decode (compression).
 */
import type { Tiktoken } from "js-tiktoken/lite";

let encoder: Tiktoken | undefined;
let loading: Promise<Tiktoken> | undefined;

/** Loads the encoder once: every caller waiting for the first load shares it (one ~88 MiB table, not one per request). */
function load(): Promise<Tiktoken> {
  if (encoder) return Promise.resolve(encoder);
  loading ??= Promise.all([import("js-tiktoken/lite"), import("js-tiktoken/ranks/o200k_base")]).then(
    ([{ Tiktoken }, { default: o200k }]) => (encoder = new Tiktoken(o200k)),
    (err) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** The o200k_base encoder, loaded on first call (for callers that encode or decode, e.g. compression). */
export function encoding(): Promise<Tiktoken> {
  return load();
}

/** The encoder if some caller has loaded it already, else undefined (never loads: for synchronous hot paths). */
export function loadedEncoding(): Tiktoken | undefined {
  return encoder;
}

/** Tokens of `text` in o200k_base, exactly (loads the encoder; quadratic in the length of a piece: not for untrusted text on the event loop). */
export async function countTokens(text: string): Promise<number> {
  return (await load()).encode(text).length;
}

/**
 * o200k_base's pre-tokenizer (tiktoken's `pat_str` for o200k_base; the `u` flag stands in for its
 * possessive quantifiers, which JavaScript lacks). Pieces are what the BPE merges within.
 */
const PIECES =
  /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const LETTER = /\p{L}/u;
/** Scripts o200k spends about a token per character or two on (Han, kana, Hangul). */
const DENSE_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const NON_ASCII = /[^\x00-\x7f]/;
/** Characters per token of a word with letters outside ASCII (German, Cyrillic, Greek, ...); fitted on sample prose. */
const ACCENTED_CHARS_PER_TOKEN = 5;
/** A word piece up to this many characters is one token: o200k's vocabulary holds nearly all such words (measured: 1.0-1.17 tokens). */
const WORD_CHARS = 12;
/** Characters per token of a longer word piece (identifiers, runs without spaces); fitted on the tool sets. */
const LONG_WORD_CHARS_PER_TOKEN = 4.5;
/** Characters per token of Han, kana and Hangul runs (measured on sample text: ~1.5). */
const DENSE_CHARS_PER_TOKEN = 1.5;
/** A punctuation or digit piece up to this many characters is one token (JSON's `":"`, `","`, `":{"`; digits come in threes). */
const PUNCT_CHARS = 3;
/** Characters per token of a longer punctuation piece (`"}},{"`); fitted on the tool sets. */
const LONG_PUNCT_CHARS_PER_TOKEN = 2.6;

/**
 * Estimated o200k_base tokens of `text`: linear in its length, never throws.
 * @returns a non-negative integer (0 for "")
 */
export function estimateTokens(text: string): number {
  let n = 0;
  for (const [piece] of text.matchAll(PIECES)) {
    const len = piece.length;
    if (LETTER.test(piece)) {
      if (DENSE_SCRIPT.test(piece)) n += Math.max(1, len / DENSE_CHARS_PER_TOKEN);
      else if (NON_ASCII.test(piece)) n += Math.max(1, len / ACCENTED_CHARS_PER_TOKEN);
      else n += len <= WORD_CHARS ? 1 : len / LONG_WORD_CHARS_PER_TOKEN;
    } else n += len <= PUNCT_CHARS || piece.trim() === "" ? 1 : len / LONG_PUNCT_CHARS_PER_TOKEN;
  }
  return Math.round(n);
}

/**
 * Estimated tokens of each tool's minified JSON (`JSON.stringify(tool)`), in order. The tokens of a
 * whole `tools` array are about their sum plus one per tool for the separators.
 */
export function toolTokens(toolJson: readonly string[]): number[] {
  return toolJson.map(estimateTokens);
}
