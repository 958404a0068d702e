/**
 * Calibration of scores against "hubs", and the small-talk check, from a fixed set of generic
 * probe sentences.
 *
 * Hubs: a few tools score well for almost every request (Radovanović et al., "Hubs in Space",
 * JMLR 2010): a long, generic description shares common words ("what", "list", "new") with
 * everything. As in CSLS (Conneau et al., "Word Translation Without Parallel Data", ICLR 2018),
 * each tool's BM25F score is corrected by its typical score: its mean score over the probes,
 * computed once per tool set. (The same correction of the cosines lowered recall on both dev sets
 * with the small offline model, see docs/tool-selection.md, and is not applied.)
 *
 * Small talk: a message that is nearer to the small-talk probes than to every view of every tool
 * ("thanks, that's all", "tell me a joke") needs no tool.
 *
 * The probes are everyday English requests and remarks of many fields, none about a particular
 * tool; they name no tool and no sentence of any evaluation set. The small-talk ones are data
 * (conf/selection/no-tool-probes.yaml, noToolProbes()); the task probes below are the calibration's own.
 */
import { Type as T, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import noToolProbesText from "../../conf/selection/no-tool-probes.yaml" with { type: "text" };
import type { LexicalIndex } from "./lexical.ts";
import { bestViewCosines, dot } from "./semantic.ts";
import { terms } from "./text.ts";

/** Requests of many kinds, for the typical score of a tool. */
export const TASK_PROBES: readonly string[] = [
  "can you help me with this",
  "show me what you have",
  "I need to get this done today",
  "do the thing we talked about",
  "give me the details",
  "what is the status",
  "make a new one",
  "change it please",
  "remove that",
  "find it for me",
  "send it over",
  "check whether it worked",
  "list everything",
  "update the information",
  "what happened yesterday",
  "start it now",
  "where is it",
  "how many are there",
  "save this for later",
  "open it",
];

const ProbesSchema = T.Object(
  { small_talk: T.Array(T.String({ minLength: 1 }), { minItems: 1 }), answerable: T.Array(T.String({ minLength: 1 }), { default: [] }) },
  { additionalProperties: false },
);

let probes: Static<typeof ProbesSchema> | undefined;

/**
 * The shipped probes file (conf/selection/no-tool-probes.yaml), parsed and checked on the first
 * call and kept: `small_talk`, small talk and questions a model answers from what it knows;
 * `answerable`, knowledge questions, writing, opinions, naming, judged only for requests without a
 * lexical anchor (query.ts lexicallyAnchored), as they are as near to a developer's tools as a
 * request for one. Parsed on first use, not at import: running the yaml parser and TypeBox for it at
 * start cost ~0.8 MiB of the proxy's idle RSS (docs/benchmarks.md, "Idle RSS by module").
 * @throws Error when the shipped file is broken (a build defect: test/selection-general.test.ts reads it)
 */
export function noToolProbes(): Static<typeof ProbesSchema> {
  if (probes) return probes;
  const doc = Value.Default(ProbesSchema, parse(noToolProbesText as string));
  if (!Value.Check(ProbesSchema, doc)) throw new Error(`conf/selection/no-tool-probes.yaml: ${[...Value.Errors(ProbesSchema, doc)].map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  return (probes = doc);
}

/**
 * Cosine lead the nearest small-talk probe needs over the nearest tool view: on the dev sets with
 * the offline model, small talk leads by 0.17 to 0.41 and requests for a tool by at most 0.14.
 */
const SMALL_TALK_MARGIN = 0.15;

/** The best cosine between `vector` and any of `others` (-1 when there are none). */
export function bestCosine(vector: Float32Array, others: readonly Float32Array[]): number {
  let best = -1;
  for (const o of others) best = Math.max(best, dot(vector, o));
  return best;
}

/**
 * Per tool (index order), its typical BM25F score: the mean over the probes (TASK_PROBES and
 * the small-talk ones) of its score for each probe's terms. Computed once per tool set.
 */
export function typicalLexical(index: LexicalIndex): Float64Array {
  const probes = [...TASK_PROBES, ...noToolProbes().small_talk];
  let out: Float64Array | undefined;
  for (const probe of probes) {
    const scores = index.score(new Map(terms(probe).map((t) => [t, 1])));
    out ??= new Float64Array(scores.length);
    scores.forEach((s, i) => (out![i]! += s / probes.length));
  }
  return out ?? new Float64Array(0);
}

/**
 * True when `query` (a message's embedding) is nearer, by SMALL_TALK_MARGIN, to a small-talk probe
 * than to every view of every tool.
 * @param chat the probes' embeddings (`small_talk`, and `answerable` for a request without a lexical anchor); @param toolViews per tool, its view embeddings
 */
export function isSmallTalk(query: Float32Array, chat: readonly Float32Array[], toolViews: readonly (readonly Float32Array[])[]): boolean {
  const nearestChat = bestCosine(query, chat);
  return bestViewCosines(toolViews, query).every((c) => c < nearestChat - SMALL_TALK_MARGIN);
}
