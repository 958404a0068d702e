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
 *   5. the `keep` best-ranked tools whose fused score is at least `min_score`, each followed by its
 *      opposites (and the best one by its family, related.ts), while the kept tools fit
 *      `max_tool_tokens` (0 = no budget).
 *   6. everything else: dropped.
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
}

/** Everything about one request's tool list that does not depend on the conversation. */
export interface ToolSetIndex {
  docs: ToolDoc[];
  lexical: LexicalIndex;
  /** Per tool, its related tools. */
  related: Related[];
  /** The domain packs that apply to this tool list (domain-pack.ts). */
  domain: DomainKnowledge;
}

export interface ToolScore {
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
/** Ranked tools (best first) whose families travel with them. */
const FAMILY_RANKS = 1;

/**
 * Scores every tool: the fused score of the whole query, or of one of its clauses where that is
 * higher, plus the sticky bonus. `queryVectors` (one per query segment, then one per clause, in
 * order) enable the semantic ranking; without them `hybrid` and `semantic` fall back to lexical.
 */
export function scoreTools(index: ToolSetIndex, query: ConversationQuery, mode: SelectionMode, toolViews?: readonly (readonly Float32Array[])[], queryVectors?: readonly Float32Array[]): ToolScore[] {
  const n = query.segments.length;
  const whole = fusedScores(index, query, mode, toolViews, queryVectors?.slice(0, n));
  const fused = whole.fused;
  // A tool that fits one part of a two-part request is relevant even if the other part dominates the whole.
  query.clauses.forEach((clause, c) => {
    const part = fusedScores(index, { ...query, segments: [clause], clauses: [] }, mode, toolViews, queryVectors && [queryVectors[n + c]!]);
    part.fused.forEach((f, i) => (fused[i] = Math.max(fused[i]!, f)));
  });
  return index.docs.map((doc, i) => ({
    lexical: whole.lexicalRaw[i]!,
    semantic: whole.semanticRaw ? whole.semanticRaw[i]! : null,
    fused: fused[i]! + (query.followUp && query.recentToolCalls.has(doc.name) ? STICKY_BONUS : 0),
  }));
}

function fusedScores(index: ToolSetIndex, query: ConversationQuery, mode: SelectionMode, toolViews?: readonly (readonly Float32Array[])[], queryVectors?: readonly (Float32Array | undefined)[]) {
  const terms = index.lexical.withCorrections(queryTerms(query));
  const lexicalRaw = index.lexical.score(terms);
  const coverage = index.lexical.nameCoverage(terms);
  const lexical = normaliseByMax(lexicalRaw).map((s, i) => (1 - NAME_WEIGHT) * s + NAME_WEIGHT * coverage[i]!);
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
}

/** Applies the decision order above. @returns one decision per tool, in the request's order */
export function decide({ index, scores, query, settings, toolChoice, tokens }: DecideInput): ToolDecision[] {
  const { docs } = index;
  const order = docs.map((_, i) => i).sort((a, b) => scores[b]!.fused - scores[a]!.fused || a - b);
  const rankOf = new Array<number>(docs.length);
  order.forEach((i, r) => (rankOf[i] = r + 1));
  const decisions: ToolDecision[] = docs.map((doc, i) => ({ name: doc.name, ...scores[i]!, rank: rankOf[i]!, kept: false, reason: "not in the top keep" }));
  const keepAll = (reason: string) => decisions.map((d) => ({ ...d, kept: true, reason }));
  if (settings.mode === "off") return keepAll("mode off");
  if (docs.length <= settings.min_tools) return keepAll(`at most min_tools (${settings.min_tools}) tools`);

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
  let ranked = 0;
  for (const i of order) {
    if (ranked >= settings.keep) break;
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
      if (ranked <= FAMILY_RANKS) for (const j of family) take(j, `family of ${d.name}`);
    }
  }
  return decisions;
}
