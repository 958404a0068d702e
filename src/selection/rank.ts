/**
 * Ranking and the keep/drop decision for one request's tools. Pure: the caller supplies the tool
 * index, the conversation query and (optionally) the embeddings; no I/O, no clock.
 *
 * Decision order (first match wins), see docs/tool-selection.md:
 *   1. mode `off`, or at most `min_tools` tools: every tool is kept.
 *   2. named by `tool_choice`, or by a `tool_calls` entry in the history: kept (the request would be
 *      invalid without it).
 *   3. matching a `never` glob: dropped.
 *   4. matching an `always` glob: kept.
 *   5. with `fail_open`, a ranking that cannot be trusted (the request is in a language the tools
 *      are not written in, or shares no word with any tool and is not small talk): every tool kept,
 *      within `max_tool_tokens`.
 *   6. the `keep` best-ranked tools (`small_talk_keep` for small talk), and further every ranked
 *      tool whose fused score is at least `keep_within` of the best one's (a flat ranking keeps
 *      more), all with a fused score of at least `min_score`, each followed by its opposites (and
 *      the best one by its family, related.ts), while the kept tools fit `max_tool_tokens` (0 = no
 *      budget).
 *   7. everything else: dropped.
 */
import type { ToolChoice } from "../protocol/openai.ts";
import { fuse, normaliseByMax, normaliseMinMax } from "./fusion.ts";
import type { DomainKnowledge } from "./domain-pack.ts";
import type { LexicalIndex } from "./lexical.ts";
import { queryTerms, type ConversationQuery } from "./query.ts";
import type { Related } from "./related.ts";
import { semanticScores } from "./semantic.ts";
import type { ToolDoc } from "./tool-doc.ts";

export type SelectionMode = "hybrid" | "lexical" | "semantic" | "off";

export interface SelectionSettings {
  mode: SelectionMode;
  keep: number;
  min_tools: number;
  min_score: number;
  max_tool_tokens: number;
  always: string[];
  never: string[];
  /** Keep related tools (opposites, families) together. */
  related: boolean;
  /** Also keep every ranked tool scoring at least this share of the best one (0 = exactly `keep`). */
  keep_within: number;
  /** Ranked tools kept for small talk (a message nearer to small talk than to any tool). */
  small_talk_keep: number;
  /** Keep every tool when the ranking cannot be trusted: a language the tools are not written in, or no word in common with any tool. */
  fail_open: boolean;
  /**
   * Added to the fused score (0..1) of the tools of the same server or family as a tool the
   * assistant just called. Default 0.3, under a third of the range, so a tool the request's words
   * point to still wins (general dev multi-turn: 0.15 changed nothing, 0.3 gave +9 points).
   */
  server_bonus: number;
  /**
   * Least cosine between a request word no tool uses and the tool-name word it is bridged to
   * (bridge.ts); 0 = no bridging.
   */
  bridge: number;
}

/** What the selector learnt about the request besides the scores (selector.ts). */
export interface RankingSignals {
  /** The request is in this language (ISO 639-1), not the tools' one, and no multilingual model ranks it. */
  foreignLanguage?: string;
  /** The request is nearer to small talk than to any tool (calibration.ts), or is a reply to such a message in a conversation without tool calls (selector.ts). */
  smallTalk?: boolean;
}

/** Everything about one request's tool list that does not depend on the conversation. */
export interface ToolSetIndex {
  docs: ToolDoc[];
  lexical: LexicalIndex;
  /** Per tool, its related tools. */
  related: Related[];
  /** The domain packs that apply to this tool list (domain-pack.ts). */
  domain: DomainKnowledge;
  /** Per tool, its typical BM25F score over the probes (calibration.ts); absent = no correction. */
  typicalLexical?: Float64Array;
}

export interface ToolScore {
  /** Raw BM25F score (0 = no word in common). */
  lexical: number;
  /** null when the semantic ranking was not used. */
  semantic: number | null;
  fused: number;
}

export interface ToolDecision extends ToolScore {
  name: string;
  /** 1-based rank by fused score. */
  rank: number;
  kept: boolean;
  reason: string;
}

/** Added to the fused score of tools the assistant just called while the user follows up on them. */
const STICKY_BONUS = 1;
/** Share of the lexical score given to name coverage (LexicalIndex.nameCoverage); the rest is BM25F. */
const NAME_WEIGHT = 0.4;
/**
 * Share of a tool's typical BM25F score (calibration.ts) taken off its score: 1 = the whole typical
 * score, as CSLS does (on dev: general +1.8 points at keep 5, Home Assistant -0.1; 2 and 4 no better).
 */
const LEX_HUB_WEIGHT = 1;
/** Ranked tools (best first) whose families travel with them. */
const FAMILY_RANKS = 1;

/**
 * Scores every tool: the fused score of the whole query, or of one of its clauses where that is
 * higher, plus the sticky bonus and `serverBonus` for tools of the server or family of a tool
 * the assistant just called. `queryVectors` (one per query segment, then one per clause, in
 * order) enable the semantic ranking; without them `hybrid` and `semantic` fall back to lexical.
 */
export function scoreTools(
  index: ToolSetIndex,
  query: ConversationQuery,
  mode: SelectionMode,
  toolViews?: readonly (readonly Float32Array[])[],
  queryVectors?: readonly Float32Array[],
  serverBonus = 0,
): ToolScore[] {
  const n = query.segments.length;
  const whole = fusedScores(index, query, mode, toolViews, queryVectors?.slice(0, n));
  const fused = whole.fused;
  // A tool that fits one part of a two-part request is relevant even if the other part dominates the whole.
  query.clauses.forEach((clause, c) => {
    const part = fusedScores(index, { ...query, segments: [clause], clauses: [] }, mode, toolViews, queryVectors && [queryVectors[n + c]!]);
    part.fused.forEach((f, i) => (fused[i] = Math.max(fused[i]!, f)));
  });
  // After a tool call, the next step is often another tool of its server or family: a nudge, which the request's own words outrank.
  const near = new Set<number>();
  index.docs.forEach((doc, i) => {
    if (!query.recentToolCalls.has(doc.name)) return;
    const { server, family } = index.related[i]!;
    for (const j of [...server, ...family]) near.add(j);
  });
  return index.docs.map((doc, i) => ({
    lexical: whole.lexicalRaw[i]!,
    semantic: whole.semanticRaw ? whole.semanticRaw[i]! : null,
    fused: fused[i]! + (query.followUp && query.recentToolCalls.has(doc.name) ? STICKY_BONUS : 0) + (near.has(i) ? serverBonus : 0),
  }));
}

function fusedScores(
  index: ToolSetIndex,
  query: ConversationQuery,
  mode: SelectionMode,
  toolViews?: readonly (readonly Float32Array[])[],
  queryVectors?: readonly (Float32Array | undefined)[],
) {
  const terms = index.lexical.withCorrections(queryTerms(query));
  const lexicalRaw = index.lexical.score(terms);
  const coverage = index.lexical.nameCoverage(terms);
  const typicalLexical = index.typicalLexical;
  // As for the embeddings: a tool whose description matches every request's common words wins nothing by that.
  const lexicalCalibrated = typicalLexical ? lexicalRaw.map((s, i) => Math.max(0, s - LEX_HUB_WEIGHT * typicalLexical[i]!)) : lexicalRaw;
  const lexical = normaliseByMax(lexicalCalibrated).map((s, i) => (1 - NAME_WEIGHT) * s + NAME_WEIGHT * coverage[i]!);
  const useSemantic = mode !== "lexical" && toolViews !== undefined && queryVectors !== undefined && queryVectors.length === query.segments.length && queryVectors.every(Boolean);
  const semanticRaw = useSemantic ? semanticScores(toolViews, query.segments.map((s, i) => ({ vector: queryVectors[i]!, weight: s.weight }))) : undefined;
  const semantic = semanticRaw ? normaliseMinMax(semanticRaw) : undefined;
  const fused = mode === "semantic" && semantic ? semantic : fuse(lexical, semantic);
  return { lexicalRaw, semanticRaw, fused: Float64Array.from(fused) };
}

const globCache = new Map<string, Bun.Glob>();
/** True when `name` matches one of the glob patterns (Bun.Glob syntax: *, ?, [abc], {a,b}). */
export function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    let glob = globCache.get(p);
    if (!glob) globCache.set(p, (glob = new Bun.Glob(p)));
    return glob.match(name);
  });
}

/** The tool named by `tool_choice`, if it names one. */
export function toolChoiceName(choice: ToolChoice | undefined): string | undefined {
  return choice && typeof choice === "object" && typeof choice.function?.name === "string" ? choice.function.name : undefined;
}

export interface DecideInput {
  index: ToolSetIndex;
  scores: ToolScore[];
  query: ConversationQuery;
  settings: SelectionSettings;
  toolChoice?: ToolChoice;
  /** Per tool, its tokens; needed only when `settings.max_tool_tokens` > 0. */
  tokens?: readonly number[];
  signals?: RankingSignals;
}

/**
 * Why the ranking cannot be trusted, if it cannot: the request is in another language than the
 * tools (and no multilingual model ranked it), or it has no word in common with any tool and is
 * not small talk (the embeddings alone, on a request that shares nothing with the tools, are too
 * weak to drop tools on).
 */
function weakRanking(scores: readonly ToolScore[], query: ConversationQuery, signals: RankingSignals): string | undefined {
  if (signals.foreignLanguage) return `request in ${signals.foreignLanguage}`;
  if (signals.smallTalk || query.segments.length === 0) return undefined;
  if (scores.every((s) => s.lexical <= 0)) return "no word in common with any tool";
  return undefined;
}

/** Applies the decision order above. @returns one decision per tool, in the request's order */
export function decide({ index, scores, query, settings, toolChoice, tokens, signals = {} }: DecideInput): ToolDecision[] {
  const { docs } = index;
  const order = docs.map((_, i) => i).sort((a, b) => scores[b]!.fused - scores[a]!.fused || a - b);
  const rankOf = new Array<number>(docs.length);
  order.forEach((i, r) => (rankOf[i] = r + 1));
  const decisions: ToolDecision[] = docs.map((doc, i) => ({ name: doc.name, ...scores[i]!, rank: rankOf[i]!, kept: false, reason: "not in the top keep" }));
  const keepAll = (reason: string) => decisions.map((d) => ({ ...d, kept: true, reason }));
  if (settings.mode === "off") return keepAll("mode off");
  if (docs.length <= settings.min_tools) return keepAll(`at most min_tools (${settings.min_tools}) tools`);
  const failOpen = settings.fail_open ? weakRanking(scores, query, signals) : undefined;

  const chosen = toolChoiceName(toolChoice);
  const forced: number[] = [];
  decisions.forEach((d, i) => {
    if (d.name === chosen) Object.assign(d, { kept: true, reason: "tool_choice" });
    else if (query.historyToolCalls.has(d.name)) Object.assign(d, { kept: true, reason: "called in the history" });
    else if (matchesAny(d.name, settings.never)) d.reason = "never";
    else if (matchesAny(d.name, settings.always)) Object.assign(d, { kept: true, reason: "always" });
    if (d.kept) forced.push(i);
  });

  const budget = settings.max_tool_tokens > 0 && tokens ? settings.max_tool_tokens : Infinity;
  let used = forced.reduce((s, i) => s + (tokens?.[i] ?? 0), 0);
  const take = (i: number, reason: string): void => {
    const d = decisions[i]!;
    if (d.kept || d.reason === "never") return;
    const cost = tokens?.[i] ?? 0;
    if (used + cost > budget) {
      d.reason = "over max_tool_tokens";
      return;
    }
    used += cost;
    Object.assign(d, { kept: true, reason });
  };
  if (failOpen) {
    for (const i of order) take(i, `fail open: ${failOpen}`);
    return decisions;
  }
  const smallTalk = signals.smallTalk === true;
  const keep = smallTalk ? Math.min(settings.keep, settings.small_talk_keep) : settings.keep;
  // A sure ranking (a clear winner) keeps `keep`; a flat one keeps every tool near the best, up to all.
  // The band is measured from the best tool on the request's own merits: a sticky tool's bonus would narrow it.
  const sticky = (i: number) => query.followUp && query.recentToolCalls.has(docs[i]!.name);
  const reference = order.find((i) => !sticky(i));
  const best = reference === undefined ? 0 : scores[reference]!.fused;
  // No band for small talk, nor when nothing scored at all (every tool would be "near" a best of 0).
  const within = smallTalk || best <= 0 || settings.keep_within <= 0 ? Infinity : settings.keep_within * best;
  let ranked = 0;
  for (const i of order) {
    if (ranked >= keep && scores[i]!.fused < within) break;
    const d = decisions[i]!;
    if (d.reason === "never") continue;
    if (!d.kept) {
      if (d.fused < settings.min_score) {
        d.reason = "below min_score";
        continue;
      }
      ranked++;
      take(i, `rank ${d.rank}`);
    }
    // A forced tool ranking this high (a sticky one, say) brings its related tools too.
    if (d.kept && settings.related) {
      const { opposites, family } = index.related[i]!;
      for (const j of opposites) take(j, `opposite of ${d.name}`);
      // Only the best-ranked tool brings its whole family: its siblings are the likeliest near misses.
      if (ranked <= FAMILY_RANKS && !smallTalk) for (const j of family) take(j, `family of ${d.name}`);
    }
  }
  return decisions;
}
