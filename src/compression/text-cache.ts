/**
 * The compress stage's caches: least-recently-used maps keyed by texts and bounded by the texts'
 * total length in characters, not by their number (one 60 KB tool result weighs as much as a
 * thousand short questions). A text longer than the bound is not kept. `weight` is the characters
 * kept.
 */
import { Lru } from "../selection/cache.ts";

/** @param maxChars total length of the keys kept, characters */
export function textCache<V>(maxChars: number): Lru<string, V> {
  return new Lru<string, V>(Number.POSITIVE_INFINITY, (_value, text) => text.length, maxChars);
}
