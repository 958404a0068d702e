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
const CONTRACTION = "(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?";
/** The pattern's alternatives, in its order, as sticky regexes: the first that matches at a position is the piece the pattern takes there. */
const WORD_PIECE = new RegExp(
  `[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+${CONTRACTION}|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*${CONTRACTION}`,
  "uy",
);
const DIGITS_PIECE = /\p{N}{1,3}/uy;
const PUNCT_PIECE = / ?[^\s\p{L}\p{N}]+[\r\n/]*/uy;
const SPACE_PIECE = /\s*[\r\n]+|\s+(?!\S)|\s+/uy;
/** Tests of the one character (code point) at a position (sticky): no match objects, no substrings. */
const LETTER = /\p{L}/uy;
/** Scripts o200k spends about a token per character or two on (Han, kana, Hangul). */
const DENSE_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/uy;
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

/** Where the match of `re` (sticky) at `text[i]` ends, or -1 when it does not match there. */
const endAt = (re: RegExp, text: string, i: number) => ((re.lastIndex = i), re.test(text) ? re.lastIndex : -1);
const at = (re: RegExp, text: string, i: number) => endAt(re, text, i) >= 0;

const isAsciiLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
const isAsciiDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAsciiSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * Which alternative of the pattern takes the piece starting with ASCII characters `c`, `d` (`d` -1
 * at the end of the text), or undefined outside ASCII: ASCII has no marks, so two characters decide
 * it, and a JSON document's many short pieces cost one regex each, not up to four.
 */
function asciiPiece(c: number, d: number): RegExp | undefined {
  if (c >= 0x80 || d >= 0x80) return undefined;
  if (isAsciiLetter(c) || (isAsciiLetter(d) && c !== 0x0a && c !== 0x0d && !isAsciiDigit(c))) return WORD_PIECE;
  if (isAsciiDigit(c)) return DIGITS_PIECE;
  // A space takes the symbols after it (` ?[^\s\p{L}\p{N}]+`); other whitespace never does.
  if (isAsciiSpace(c)) return c === 0x20 && d >= 0 && !isAsciiSpace(d) && !isAsciiDigit(d) ? PUNCT_PIECE : SPACE_PIECE;
  return PUNCT_PIECE;
}

/** Estimated tokens of the word piece text[start, end) (the pattern's first two alternatives: letters and marks, maybe one leading symbol). */
function wordTokens(text: string, start: number, end: number): number {
  const len = end - start;
  let i = start;
  while (i < end && text.charCodeAt(i) < 0x80) i++;
  // ASCII only: the alternatives' letter classes matched at least one ASCII letter.
  if (i === end) return len <= WORD_CHARS ? 1 : len / LONG_WORD_CHARS_PER_TOKEN;
  let letter = false;
  let dense = false;
  for (let k = start; k < end && !(letter && dense); k++) {
    const c = text.charCodeAt(k);
    if (c < 0x80) {
      if (isAsciiLetter(c)) letter = true;
      continue;
    }
    // A low surrogate: its code point was tested at the high half (a lone one is neither).
    if (c >= 0xdc00 && c <= 0xdfff) continue;
    if (!letter && at(LETTER, text, k)) letter = true;
    if (!dense && at(DENSE_SCRIPT, text, k)) dense = true;
  }
  // Marks alone (no letter) are costed as punctuation, as before.
  if (!letter) return len <= PUNCT_CHARS ? 1 : len / LONG_PUNCT_CHARS_PER_TOKEN;
  return dense ? Math.max(1, len / DENSE_CHARS_PER_TOKEN) : Math.max(1, len / ACCENTED_CHARS_PER_TOKEN);
}

/**
 * Estimated o200k_base tokens of `text`: linear in its length, never throws. The text is split
 * with o200k's pre-tokenizer pattern, one sticky regex per alternative (which alternative matched
 * tells the piece's kind), so nothing is allocated per piece: a fuzzed 1 MB tool list once made
 * ~50 MB of match arrays and substrings here, ~85 MiB of the fuzzer's peak RSS with lexical selection.
 * @returns a non-negative integer (0 for "")
 */
export function estimateTokens(text: string): number {
  let n = 0;
  for (let start = 0, end = 0; start < text.length; start = end) {
    const kind = asciiPiece(text.charCodeAt(start), start + 1 < text.length ? text.charCodeAt(start + 1) : -1);
    if (kind === WORD_PIECE) n += wordTokens(text, start, (end = endAt(WORD_PIECE, text, start)));
    else if (kind === DIGITS_PIECE || kind === PUNCT_PIECE) {
      end = endAt(kind, text, start);
      n += end - start <= PUNCT_CHARS ? 1 : (end - start) / LONG_PUNCT_CHARS_PER_TOKEN;
    } else if (kind === SPACE_PIECE) {
      end = endAt(SPACE_PIECE, text, start);
      n += 1;
    } else if ((end = endAt(WORD_PIECE, text, start)) >= 0) n += wordTokens(text, start, end);
    else if ((end = endAt(DIGITS_PIECE, text, start)) >= 0 || (end = endAt(PUNCT_PIECE, text, start)) >= 0) {
      // Digits come in threes, but three digits outside the BMP are six UTF-16 units: costed by length as punctuation is.
      n += end - start <= PUNCT_CHARS ? 1 : (end - start) / LONG_PUNCT_CHARS_PER_TOKEN;
    } else if ((end = endAt(SPACE_PIECE, text, start)) >= 0) n += 1;
    // Not the start of a piece (a lone surrogate): skipped, as a global search skips it.
    else end = start + (text.codePointAt(start)! > 0xffff ? 2 : 1);
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
