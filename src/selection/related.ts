/**
 * Related tools that travel together, found from the tool names alone (no list of tool names):
 *
 * 1. Opposites: two names that are the same word sequence except for one word and its opposite,
 *    e.g. TurnOn/TurnOff, MediaPause/MediaUnpause, IncreaseTimer/DecreaseTimer, lock_door/unlock_door.
 *    Opposites are a negating prefix (un-, dis-, de-, in-/de-) or a pair from a short list of general
 *    English antonyms. Keeping one without the other is the classic trap: the model calls the one it has.
 * 2. Families: names sharing a subject word — a name word that is not an action word, not a
 *    particle, and not so common among the request's tools that it is a namespace ("hass", "mcp") —
 *    e.g. the timer tools, VacuumStart/VacuumReturnToBase, the camera_* tools. Families larger than
 *    `maxFamily` are too vague to travel together and are ignored.
 */
import { splitIdentifier, stem } from "./text.ts";

const ANTONYMS: [string, string][] = [
  ["on", "off"], ["open", "close"], ["start", "stop"], ["start", "end"], ["begin", "end"], ["show", "hide"],
  ["add", "remove"], ["next", "previous"], ["up", "down"], ["in", "out"], ["raise", "lower"], ["play", "pause"],
  ["enter", "exit"], ["create", "delete"], ["push", "pull"], ["attach", "detach"], ["include", "exclude"],
  ["increase", "decrease"], ["increment", "decrement"], ["arm", "disarm"], ["lock", "unlock"], ["enable", "disable"],
  ["mount", "unmount"], ["connect", "disconnect"], ["subscribe", "unsubscribe"], ["forward", "back"], ["first", "last"],
];

/** Words that name an action or a particle, never the subject of a family. */
const ACTION_WORDS = new Set([
  "get", "set", "list", "add", "remove", "create", "update", "delete", "search", "find", "start", "stop", "cancel",
  "pause", "unpause", "resume", "turn", "toggle", "open", "close", "play", "send", "fetch", "read", "write", "run",
  "increase", "decrease", "complete", "return", "move", "export", "import", "append", "check", "show", "enable",
  "disable", "lock", "unlock", "next", "previous", "on", "off", "to", "and", "or", "all", "by", "for", "of", "in",
  "from", "with", "the", "a", "an", "up", "down", "new", "query", "do", "make", "call", "use", "change", "clear",
  "reset", "load", "save", "give", "report", "status", "info", "item", "items", "data", "value", "values",
]);

const opposite = new Map<string, Set<string>>();
for (const [a, b] of ANTONYMS) {
  if (!opposite.has(a)) opposite.set(a, new Set());
  if (!opposite.has(b)) opposite.set(b, new Set());
  opposite.get(a)!.add(b);
  opposite.get(b)!.add(a);
}

/**
 * True when `a` and `b` are opposites: a listed antonym pair, one of `extra` (a domain pack's
 * `opposites`, either order) or a negating prefix ("pause"/"unpause").
 */
export function areOpposites(a: string, b: string, extra: readonly (readonly [string, string])[] = []): boolean {
  if (opposite.get(a)?.has(b)) return true;
  if (extra.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) return true;
  for (const [x, y] of [[a, b], [b, a]] as const) {
    for (const prefix of ["un", "dis", "de", "non"]) if (y === prefix + x && x.length >= 3) return true;
    if (x.startsWith("in") && y === `de${x.slice(2)}` && x.length >= 5) return true;
  }
  return false;
}

function oppositeNames(a: string[], b: string[], extra: readonly (readonly [string, string])[]): boolean {
  if (a.length !== b.length) return false;
  let differing = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (differing >= 0) return false;
    differing = i;
  }
  return differing >= 0 && areOpposites(a[differing]!, b[differing]!, extra);
}

/** Indices (into the request's tools) of one tool's related tools. */
export interface Related {
  opposites: number[];
  family: number[];
  /**
   * Tools of the same server: those sharing the shortest leading run of name words that at least
   * two and at most half of the tools share ("mcp_git_log" and "mcp_git_status", when "mcp" is
   * everyone's); [] when there is none.
   */
  server: number[];
}

export interface RelatedOptions {
  /** Largest family that travels together (default 8). */
  maxFamily?: number;
  /** Further opposite word pairs (a domain pack's `opposites`), lower-case name words. */
  opposites?: readonly (readonly [string, string])[];
}

/**
 * @param names the tool names of one request, in order
 * @returns per tool (same order), the indices of its opposites and of its family
 */
export function relatedTools(names: readonly string[], options: RelatedOptions = {}): Related[] {
  const maxFamily = options.maxFamily ?? 8;
  const extra = options.opposites ?? [];
  const tokens = names.map((n) => splitIdentifier(n));
  const stems = tokens.map((t) => t.map(stem));
  // A word in more than a quarter of the names (at least 3) is a namespace, not a subject.
  const df = new Map<string, number>();
  for (const s of stems) for (const w of new Set(s)) df.set(w, (df.get(w) ?? 0) + 1);
  const common = Math.max(3, names.length / 4);
  const subjects = stems.map((s) => new Set(s.filter((w) => !ACTION_WORDS.has(w) && w.length > 2 && !/^\d+$/.test(w) && (df.get(w) ?? 0) <= common)));
  const families = new Map<string, number[]>();
  subjects.forEach((set, i) => {
    for (const w of set) {
      if (!families.has(w)) families.set(w, []);
      families.get(w)!.push(i);
    }
  });

  // Leading word runs: "mcp", "mcp git", "mcp git log"; the shortest one shared by 2..n/2 tools names the server.
  const prefixCount = new Map<string, number>();
  const prefixes = tokens.map((t) => t.map((_, k) => t.slice(0, k + 1).join(" ")));
  for (const list of prefixes) for (const p of list) prefixCount.set(p, (prefixCount.get(p) ?? 0) + 1);
  const serverOf = prefixes.map((list) => list.find((p) => prefixCount.get(p)! >= 2 && prefixCount.get(p)! <= names.length / 2));

  return names.map((_, i) => {
    const server: number[] = [];
    if (serverOf[i] !== undefined) for (let j = 0; j < names.length; j++) if (j !== i && serverOf[j] === serverOf[i]) server.push(j);
    const opposites: number[] = [];
    for (let j = 0; j < names.length; j++) if (j !== i && oppositeNames(tokens[i]!, tokens[j]!, extra)) opposites.push(j);
    const family: number[] = [];
    for (const w of subjects[i]!) {
      const members = families.get(w)!;
      if (members.length < 2 || members.length > maxFamily) continue;
      for (const j of members) if (j !== i && !opposites.includes(j) && !family.includes(j)) family.push(j);
    }
    return { opposites, family, server };
  });
}
