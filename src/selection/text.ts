/**
 * Text normalisation shared by the lexical ranker and the related-tools rule: identifier splitting
 * (camelCase, PascalCase, snake_case, kebab-case, digits), word tokenising, a small stopword list and
 * a light English suffix stemmer (plural, -ing, -ed; in the spirit of Harman's S-stemmer plus the
 * first step of Porter's algorithm). Pure functions, no I/O.
 */

/**
 * Function words that carry no meaning for tool choice. Deliberately short: "on", "off", "up", "down",
 * "all", "next", "what", "is" stay, because they separate tools (turn on / turn off, questions).
 */
const STOPWORDS = new Set([
  "a", "an", "the", "and", "or", "of", "to", "in", "at", "by", "for", "from", "with", "into", "onto",
  "my", "our", "your", "me", "us", "i", "we", "you", "it", "its", "this", "that", "these", "those",
  "please", "pls", "can", "could", "would", "will", "should", "be", "been", "am", "are", "was", "were",
  "do", "does", "did", "have", "has", "had", "so", "just", "some", "any", "e", "g", "eg", "etc", "s",
  "let", "hey", "hi", "yo", "there", "here", "then", "than", "too", "very", "also", "which", "who",
]);

const utf8 = { encoder: new TextEncoder(), decoder: new TextDecoder() };

/**
 * `text` cut to at most `maxChars` characters; a cut text is a string of its own. A plain `slice`
 * is a substring that keeps the whole original alive (JavaScriptCore), so a cache holding a cut of a
 * client's 1 MB text would hold the 1 MB. Only texts longer than `maxChars` pay for the copy (one
 * UTF-8 round trip; a surrogate pair split at the cut becomes U+FFFD).
 */
export function cappedCopy(text: string, maxChars: number): string {
  return text.length > maxChars ? utf8.decoder.decode(utf8.encoder.encode(text.slice(0, maxChars))) : text;
}

const VOWEL = /[aeiouy]/;

/** Light English stemmer: "lights" -> "light", "running" -> "run", "timers" -> "timer", "paused" -> "paus". */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3) return w;
  if (w.endsWith("'s")) w = w.slice(0, -2);
  if (w.endsWith("ies") && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (/(ss|sh|ch|x|z)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith("s") && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  for (const suffix of ["ing", "ed"]) {
    if (!w.endsWith(suffix) || w.length - suffix.length < 3) continue;
    const base = w.slice(0, -suffix.length);
    if (!VOWEL.test(base)) continue;
    // "running" -> "run", but "falling" -> "fall", "buzzed" -> "buzz"
    w = /([^aeiouslz])\1$/.test(base) ? base.slice(0, -1) : base;
    break;
  }
  // Porter's last step: "pause", "paused" and "pausing" all end as "paus"
  return w.length > 4 && w.endsWith("e") ? w.slice(0, -1) : w;
}

/** "AppTurnOn" -> ["app", "turn", "on"]; "mcp_files_search" -> ["mcp", "files", "search"]; "PM2.5" -> ["pm", "2", "5"]. */
export function splitIdentifier(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    // A lookahead, not /([A-Z]+)([A-Z][a-z])/: that one backtracks quadratically on a long capital run.
    .replace(/([A-Z])(?=[A-Z][a-z])/g, "$1 ")
    .replace(/([a-zA-Z])(\d)|(\d)([a-zA-Z])/g, "$1$3 $2$4")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Lower-cased words of free text, apostrophes folded ("what's" -> "what", "s"), identifiers split. */
export function words(text: string): string[] {
  return splitIdentifier(text.replace(/[’']/g, " "));
}

/** Words -> stemmed index terms without stopwords. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const w of words(text)) if (!STOPWORDS.has(w)) out.push(stem(w));
  return out;
}

/** True for a stopword (exported for the query builder, which counts content words). */
export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}
