/**
 * Token counts of tool definitions with js-tiktoken, one encoding (o200k_base, the GPT-4o family's),
 * loaded on first use only: the encoder costs ~88 MiB, which a Raspberry Pi should not pay unless
 * tools are counted. Counts are of the minified JSON of each tool, cached by the tool's hash.
 */
import type { Tiktoken } from "js-tiktoken/lite";

let encoder: Tiktoken | undefined;
const counts = new Map<string, number>();
const MAX_CACHED = 4096;

/** Loads the encoder (idempotent). */
async function load(): Promise<Tiktoken> {
  if (encoder) return encoder;
  const [{ Tiktoken }, { default: o200k }] = await Promise.all([import("js-tiktoken/lite"), import("js-tiktoken/ranks/o200k_base")]);
  encoder = new Tiktoken(o200k);
  return encoder;
}

/** The o200k_base encoder, loaded on first call (for callers that encode or decode, e.g. compression). */
export function encoding(): Promise<Tiktoken> {
  return load();
}

/** The encoder if some caller has loaded it already, else undefined (never loads: for synchronous hot paths). */
export function loadedEncoding(): Tiktoken | undefined {
  return encoder;
}

/** Tokens of `text` in o200k_base. */
export async function countTokens(text: string): Promise<number> {
  return (await load()).encode(text).length;
}

/**
 * Tokens of each tool's minified JSON (`JSON.stringify(tool)`), in order; `hashes` key the cache.
 * The tokens of a whole `tools` array are about their sum plus one per tool for the separators.
 */
export async function toolTokens(tools: readonly unknown[], hashes: readonly string[]): Promise<number[]> {
  const missing = hashes.some((h) => !counts.has(h));
  const enc = missing ? await load() : undefined;
  return tools.map((tool, i) => {
    const hash = hashes[i]!;
    let n = counts.get(hash);
    if (n === undefined) {
      n = enc!.encode(JSON.stringify(tool)).length;
      if (counts.size >= MAX_CACHED) counts.delete(counts.keys().next().value!);
      counts.set(hash, n);
    }
    return n;
  });
}
