/**
 * o200k_base encoding with a bound on the work per piece. js-tiktoken's BPE is quadratic in the
 * length of a pre-tokenizer piece, and a run of one character class is one piece: letters or digits
 * (4 KB of "x" took ~2 s, 4 KB of random letters ~1.2 s), but also symbols and punctuation (1,024
 * emoji took 0.9 s, 2,048 "!" 0.25 s) and whitespace (2,048 spaces or newlines 0.25 s), measured
 * here; long enough to stall every request. Such runs (a pasted hash, a blob, a long identifier, a
 * ruler of dashes, padding) are encoded in slices of MAX_RUN characters. The ids still decode to the
 * exact text; the count differs from one-piece BPE only at the slice edges.
 */
import type { Tiktoken } from "js-tiktoken/lite";

/**
 * Longest run of one character class given to the BPE at once: 4 KB of such a run then costs ~6-25 ms
 * (load 12) instead of seconds, and the counts of "x" x 4096 and of 4 KB of random letters came out
 * the same as in one piece.
 */
export const MAX_RUN = 48;
/** The pre-tokenizer's classes (o200k_base's pattern splits letters/digits, other symbols and whitespace apart). */
const RUN = `[\\p{L}\\p{N}]{${MAX_RUN + 1},}|[^\\s\\p{L}\\p{N}]{${MAX_RUN + 1},}|\\s{${MAX_RUN + 1},}`;
const HAS_LONG_RUN = new RegExp(RUN, "u");
const LONG_RUN = new RegExp(RUN, "gu");

/** `text` as o200k_base token ids, long runs of one character class encoded slice by slice. Special-token text is encoded as text. */
export function encodeBounded(enc: Tiktoken, text: string): number[] {
  if (!HAS_LONG_RUN.test(text)) return enc.encode(text, [], []);
  const ids: number[] = [];
  const add = (part: string) => {
    for (const id of enc.encode(part, [], [])) ids.push(id);
  };
  let at = 0;
  for (const m of text.matchAll(LONG_RUN)) {
    if (m.index > at) add(text.slice(at, m.index));
    const run = m[0];
    for (let i = 0; i < run.length; ) {
      let end = Math.min(i + MAX_RUN, run.length);
      // Never between the two halves of a surrogate pair (an emoji, a math letter): both go in one slice.
      if (isHighSurrogate(run.charCodeAt(end - 1)) && end < run.length) end++;
      add(run.slice(i, end));
      i = end;
    }
    at = m.index + run.length;
  }
  if (at < text.length) add(text.slice(at));
  return ids;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
