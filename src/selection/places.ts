/**
 * Places named in a request ("in the living room", "upstairs"): they say *where* to act, not *what*
 * to do. A tool whose description happens to name the same room (a routine that "dims the living
 * room lights") is no better a match for "lower the living room shutters" than one that takes a
 * room as an argument. The selector therefore matches place words faintly, matches the place itself
 * against tools that take a place (tool-doc.ts SLOT_PLACE), and embeds the request once more
 * without its places, so the action decides.
 *
 * The place words are data: the `places` of the domain packs that apply (domain-pack.ts); with
 * none, no text names a place.
 */

export interface PlaceMatcher {
  /** The places named in `text`, each as written with its preposition and article ("in the kitchen"), in order; [] when none. */
  placesIn(text: string): string[];
  /** `text` without the places it names, whitespace collapsed; the same string when it names none. */
  withoutPlaces(text: string): string;
}

const fold = (text: string) => text.replace(/[’]/g, "'");

/** A matcher for `words` (multi-word places allowed, "kids' room" also matches "kids room"; plurals match). */
export function placeMatcher(words: readonly string[]): PlaceMatcher {
  if (words.length === 0) return { placesIn: () => [], withoutPlaces: (text) => text };
  const alternation = [...words]
    .sort((a, b) => b.length - a.length)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/'/g, "'?").replace(/\s+/g, String.raw`\s*`))
    .join("|");
  const rooms = new RegExp(String.raw`\b(?:in|on|at|of|for|from|to|through|throughout)?\s*(?:the\s+|my\s+|our\s+)?(?:${alternation})s?\b`, "gi");
  return {
    placesIn: (text) => [...fold(text).matchAll(rooms)].map((m) => m[0].trim()).filter(Boolean),
    withoutPlaces: (text) => {
      const out = fold(text).replace(rooms, " ").replace(/\s+/g, " ").trim();
      return out === fold(text).replace(/\s+/g, " ").trim() ? text : out;
    },
  };
}
