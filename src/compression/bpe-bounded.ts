/**
 * o200k_base encoding with a bound on the work per piece. js-tiktoken's BPE is quadratic in the
 * length of a pre-tokenizer piece, and a run of letters or digits is one piece: 4 KB of "x" takes
 * ~2 s, 4 KB of random letters ~1.2 s (measured here), long enough to stall every request. Such runs
 * (a pasted hash, a blob, a long identifier) are encoded in slices of MAX_RUN characters. The ids
 * still decode to the exact text; the count differs from one-piece BPE only at the slice edges.
 */
import type { Tiktoken } from "js-tiktoken/lite";

/**
 * Longest run of letters and digits given to the BPE at once: 4 KB of such a run then costs ~6-25 ms
 * (load 12) instead of seconds, and the counts of "x" x 4096 and of 4 KB of random letters came out
 * the same as in one piece.
 */
const MAX_RUN = 48;
const RUN = `[\\p{L}\\p{N}]{${MAX_RUN + 1},}`;
const HAS_LONG_RUN = new RegExp(RUN, "u");
const LONG_RUN = new RegExp(RUN, "gu");

/** `text` as o200k_base token ids, long letter/digit runs encoded slice by slice. Special-token text is encoded as text. */
export function encodeBounded(enc: Tiktoken, text: string): number[] {
  if (!HAS_LONG_RUN.test(text)) return enc.encode(text, [], []);
  const ids: number[] = [];
  const add = (part: string) => {
    for (const id of enc.encode(part, [], [])) ids.push(id);
  };
  let at = 0;
  for (const m of text.matchAll(LONG_RUN)) {
    if (m.index > at) add(text.slice(at, m.index));
    for (let i = 0; i < m[0].length; i += MAX_RUN) add(m[0].slice(i, i + MAX_RUN));
    at = m.index + m[0].length;
  }
  if (at < text.length) add(text.slice(at));
  return ids;
}
