/**
 * The rewrite engine of domain packs (domain-pack.ts): says a user message in the plainer words
 * tool descriptions use. The rewrites themselves are data (conf/selection/*.yaml); this module only
 * knows the three shapes a rewrite takes and how English places a particle:
 *
 * - `particle`: a verb, up to three words, then its particle ("switch [the porch light] on" ->
 *   "turn on the porch light"); "on" followed by a noun phrase is a preposition ("put milk on the
 *   list") and does not match.
 * - `phrase`: whole words or a fixed phrase (a regex alternation), `$&` in `say` being the match.
 * - `regex`: any JavaScript regular expression.
 *
 * Rewrites apply in order, case-insensitively, each to the text the previous one left, so a
 * specific phrase ("tick eggs off") is rewritten before a general one ("... off").
 */

/** Up to three words between a verb and its particle: "switch [the porch light] on". */
const GAP = String.raw`((?:\s+(?!on\b|off\b|up\b|down\b)[\w'-]+){0,3}?)`;

/** Words after which "on" is a preposition ("put it on the list"), not a particle ("put it on"). */
const NOT_PARTICLE = String.raw`(?!\s+(?:the|a|an|my|our|your|his|her|their|this|that|these|those|to|top|some|something|anything)\b)`;

/** One rewrite as a pack states it (domain-pack.ts validates the shape). */
export type Rewrite = { particle: string; then: string; say: string } | { phrase: string; say: string } | { regex: string; say: string };

/** A compiled set of rewrites: text in, text in plainer words out (the same string when none applied). */
export type Paraphrase = (text: string) => string;

type Rule = readonly [pattern: RegExp, replacement: string];

function compile(rewrite: Rewrite): Rule {
  if ("particle" in rewrite) {
    const guard = /(^|\|)on($|\|)/.test(rewrite.then) ? NOT_PARTICLE : "";
    // The particle moves next to its verb; the words between them follow ("$1").
    return [new RegExp(String.raw`\b(?:${rewrite.particle})\b${GAP}\s+(?:${rewrite.then})\b${guard}`, "gi"), `${rewrite.say}$1`];
  }
  if ("phrase" in rewrite) return [new RegExp(String.raw`\b(?:${rewrite.phrase})\b`, "gi"), rewrite.say];
  return [new RegExp(rewrite.regex, "gi"), rewrite.say];
}

const fold = (text: string) => text.replace(/[’]/g, "'");

/**
 * @param rewrites in the order they apply
 * @returns the paraphrase function; with no rewrites, the identity
 * @throws SyntaxError naming the rewrite when a pattern is not a valid regular expression
 */
export function compileParaphrases(rewrites: readonly Rewrite[]): Paraphrase {
  const rules = rewrites.map((r, i) => {
    try {
      return compile(r);
    } catch (err) {
      throw new SyntaxError(`rewrite ${i + 1}: ${(err as Error).message}`);
    }
  });
  if (rules.length === 0) return (text) => text;
  return (text) => {
    let out = fold(text);
    for (const [pattern, replacement] of rules) out = out.replace(pattern, replacement);
    out = out.replace(/\s+/g, " ").trim();
    return out === fold(text).replace(/\s+/g, " ").trim() ? text : out;
  };
}
