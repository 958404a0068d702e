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
 * tool; they name no tool and no sentence of any evaluation set.
 */
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

/** Small talk and questions a model answers from what it knows. */
export const CHAT_PROBES: readonly string[] = [
  "hello",
  "hi there, how are you doing",
  "good morning to you too",
  "thank you so much",
  "thanks, that's perfect",
  "great, that's all for now",
  "haha that's funny",
  "cool, nice one",
  "ok never mind",
  "goodbye, talk to you later",
  "tell me a joke",
  "what do you think about that",
  "who are you",
  "what is your name",
  "explain how it works in simple terms",
  "what is the meaning of this word",
  "write a short story about a dragon",
  "give me some advice on learning to cook",
  "what is the capital of Peru",
  "why is the sky blue",
  "how do I write a loop in python",
  "what's the difference between a virus and a bacterium",
  "recommend a good book to read",
  "what's your opinion on pineapple pizza",
  "translate good night into Japanese",
  "summarise the plot of Hamlet",
  "come up with a slogan for a bakery",
  "I'm bored",
  "you're awesome",
  "what is love",
];

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
 * CHAT_PROBES) of its score for each probe's terms. Computed once per tool set.
 */
export function typicalLexical(index: LexicalIndex): Float64Array {
  const probes = [...TASK_PROBES, ...CHAT_PROBES];
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
 * @param chat the CHAT_PROBES embeddings; @param toolViews per tool, its view embeddings
 */
export function isSmallTalk(query: Float32Array, chat: readonly Float32Array[], toolViews: readonly (readonly Float32Array[])[]): boolean {
  const nearestChat = bestCosine(query, chat);
  return bestViewCosines(toolViews, query).every((c) => c < nearestChat - SMALL_TALK_MARGIN);
}
