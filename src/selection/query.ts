/**
 * Builds the selection query from the conversation, not just the last message.
 *
 * - The last user message weighs 1. Earlier user and assistant turns (system and tool messages are
 *   left out) weigh less the further back they are: `base * 0.5^(distance - 1)` where distance counts user turns (an
 *   assistant turn weighs ASSISTANT_SHARE of the user turn it answers), at most MAX_CONTEXT_TURNS back.
 * - A follow-up — a short last message (at most FOLLOW_UP_WORDS content words: "kitchen",
 *   "drop it to 20") or one opening with an affirmative or referring phrase ("yes please", "do it",
 *   "the other one", "and the bedroom?") — leans on the turns before it: base 1 instead of 0.25.
 * - Tools the assistant called since the previous user turn are "recent": the ranker keeps them
 *   near the top while the user follows up, and lets them go once the conversation moves on.
 * - Every tool named by a `tool_calls` entry anywhere in the history is reported, because some
 *   upstreams reject a history that calls a tool the request does not define.
 * - The first HEAD_WORDS content words of the last message are one more segment (HEAD_WEIGHT):
 *   English requests open with their action ("light up the living room").
 * - A last message joining requests ("turn off the lights and set a timer") is also split into
 *   clauses, ranked on their own by rank.ts.
 * - When a domain pack's paraphrases (domain-pack.ts) say the last message in plainer words ("fire up the coffee
 *   machine" -> "turn on start the coffee machine"), that paraphrase is one more segment
 *   (PARAPHRASE_WEIGHT) and the opening words and clauses are taken from it. Earlier turns are
 *   taken in plainer words only ("is the heating on?" -> "... heating temperature ...").
 * - Places (a domain pack's `places`, places.ts) say where, not what: the last message without them is one more segment for
 *   the embeddings (PLACELESS_WEIGHT), and in the lexical query place words count PLACE_TERM_WEIGHT.
 */
import type { ChatMessage } from "../protocol/openai.ts";
import { NO_PACKS, type DomainKnowledge } from "./domain-pack.ts";
import type { LexicalIndex } from "./lexical.ts";
import { isStopword, terms, words } from "./text.ts";
import { SLOT_NUMBER, SLOT_PATH, SLOT_PERCENT, SLOT_PLACE, SLOT_QUESTION, SLOT_URL } from "./tool-doc.ts";

export interface QuerySegment {
  text: string;
  weight: number;
  /** Embedded for the semantic ranking only; its words are already in the lexical query. */
  embedOnly?: boolean;
}

export interface ConversationQuery {
  /** Best first: the last user message, then earlier turns, newest first. */
  segments: QuerySegment[];
  /** Parts of the last user message that are requests of their own (two or more, else none). */
  clauses: QuerySegment[];
  /** The last user message leans on earlier turns. */
  followUp: boolean;
  /** Tools called by the assistant after the previous user turn. */
  recentToolCalls: Set<string>;
  /** Tools called anywhere in the history. */
  historyToolCalls: Set<string>;
  /** The domain packs' knowledge the query was built with (paraphrases, places). */
  domain: DomainKnowledge;
  /** Tool-name words bridged from words no tool uses (bridge.ts), stem -> weight; set by the selector. */
  bridges?: ReadonlyMap<string, number>;
}

const MAX_CONTEXT_TURNS = 4;
const HEAD_WORDS = 2;
const HEAD_WEIGHT = 0.3;
/** Weight of the last message said in plainer words (lexicon.ts), next to the message itself (1). */
const PARAPHRASE_WEIGHT = 1;
/** Weight of the last message without the places it names (places.ts), embedded only. */
const PLACELESS_WEIGHT = 1;
/** A place word counts this much of a content word in the lexical query (places.ts). */
const PLACE_TERM_WEIGHT = 0.3;
/**
 * Words joining two requests in one message ("turn off the lights and set a timer"). The lookbehind
 * starts a match only where a whitespace run starts: without it, a long run of spaces is rescanned
 * from each of its positions (quadratic; 20,000 spaces held the event loop for half a second).
 */
const CLAUSE_SPLIT = /(?<!\s)\s*(?:[,;]|\b(?:and|then|also|plus)\b)\s*/i;
/** Content words a part needs to count as a request of its own. */
const CLAUSE_WORDS = 2;
const FOLLOW_UP_WORDS = 3;
const FOLLOW_UP_BASE = 1;
/** An assistant turn counts a little less than the user turn it answers. */
const ASSISTANT_SHARE = 0.8;
const CONTEXT_BASE = 0.25;
const DECAY = 0.5;
/** Replies that only make sense with the turn before them (affirmations, references, "and ...?"). */
const FOLLOW_UP_OPENING =
  /^\s*(yes|yeah|yep|yup|sure|ok|okay|alright|please|go ahead|do it|do that|that one|the other|this one|same|and|also|what about|how about|no,|nope|not that|instead)\b/i;

/** The text of a message: string content or its text parts; empty for anything else. */
export function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => (part && part.type === "text" && typeof part.text === "string" ? part.text : ""))
    .filter(Boolean)
    .join(" ");
}

function calledTools(message: ChatMessage): string[] {
  if (!Array.isArray(message.tool_calls)) return [];
  return message.tool_calls.map((c) => c?.function?.name).filter((n): n is string => typeof n === "string");
}

/** True when `text` reads as a reply to the previous turn rather than a request of its own. */
export function isFollowUp(text: string): boolean {
  if (FOLLOW_UP_OPENING.test(text)) return true;
  // A short question of its own ("which lights are on?") stands alone; a short statement ("kitchen") does not.
  return !QUESTION_OPENING.test(text) && words(text).filter((w) => !isStopword(w)).length <= FOLLOW_UP_WORDS;
}

/**
 * Builds the query for `messages` (OpenAI chat messages, oldest first) with the paraphrases and
 * places of `domain` (the domain packs that apply; none by default).
 */
export function buildQuery(messages: readonly ChatMessage[], domain: DomainKnowledge = NO_PACKS): ConversationQuery {
  const { paraphrase } = domain;
  const { withoutPlaces } = domain.places;
  const historyToolCalls = new Set<string>();
  for (const m of messages) for (const name of calledTools(m)) historyToolCalls.add(name);

  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") {
      last = i;
      break;
    }
  }
  const segments: QuerySegment[] = [];
  const recentToolCalls = new Set<string>();
  if (last < 0) return { segments, clauses: [], followUp: false, recentToolCalls, historyToolCalls, domain };

  const current = messageText(messages[last]!);
  const followUp = isFollowUp(current);
  if (current.trim()) segments.push({ text: current, weight: 1 });
  const plain = paraphrase(current);
  if (plain !== current) segments.push({ text: plain, weight: PARAPHRASE_WEIGHT });
  const placeless = withoutPlaces(plain);
  if (placeless !== plain && placeless) segments.push({ text: placeless, weight: PLACELESS_WEIGHT, embedOnly: true });
  // English requests open with their action ("switch on ...", "fire up ..."): its first words again, on their own.
  const head = words(plain).filter((w) => !isStopword(w)).slice(0, HEAD_WORDS).join(" ");
  if (head && head !== plain.trim().toLowerCase()) segments.push({ text: head, weight: HEAD_WEIGHT });
  // Tool calls after the last user message (an agent loop in progress) and those answering the turn before it.
  let userTurnsSeen = 0;
  for (let i = messages.length - 1; i >= 0 && userTurnsSeen < 2; i--) {
    const m = messages[i]!;
    if (m.role === "user") userTurnsSeen++;
    for (const name of calledTools(m)) recentToolCalls.add(name);
  }

  // Distance counts user turns: the previous user message and the assistant's reply to it are one turn back.
  const base = followUp ? FOLLOW_UP_BASE : CONTEXT_BASE;
  let distance = 1;
  for (let i = last - 1; i >= 0 && distance <= MAX_CONTEXT_TURNS; i--) {
    const m = messages[i]!;
    if (m.role !== "user" && m.role !== "assistant") continue;
    const text = messageText(m);
    if (text.trim()) segments.push({ text: paraphrase(text), weight: base * DECAY ** (distance - 1) * (m.role === "assistant" ? ASSISTANT_SHARE : 1) });
    if (m.role === "user") distance++;
  }
  return { segments, clauses: splitClauses(current, domain), followUp, recentToolCalls, historyToolCalls, domain };
}

/**
 * "turn off the office lights and set a 25 minute timer" -> both halves, each in plainer words
 * (the domain packs' paraphrases) when they have some; a single request -> [].
 */
export function splitClauses(text: string, domain: DomainKnowledge = NO_PACKS): QuerySegment[] {
  const parts = text.split(CLAUSE_SPLIT).filter((p) => words(p).filter((w) => !isStopword(w)).length >= CLAUSE_WORDS);
  return parts.length >= 2 ? parts.map((p) => ({ text: domain.paraphrase(p), weight: 1 })) : [];
}

/** A web address: a scheme or "www.". */
const WEB_ADDRESS = /\b(?:https?|ftp):\/\/\S+|\bwww\.\S+/i;
const WEB_ADDRESS_GLOBAL = new RegExp(WEB_ADDRESS.source, "gi");
/** A file-system path ("~/projects", "./src", "/etc/hosts", "C:\\Users") or a file name with an extension ("notes.txt"). */
const FILE_PATH = /(?:^|[\s'"(`])(?:~|\.{1,2})?\/[\w.@-]|\b[a-z]:\\|\b[\w-]+\.[a-z][a-z0-9]{0,4}\b(?![.\w])/i;

const QUESTION_OPENING = /^\s*(what|which|who|whom|whose|when|where|why|how|is|are|was|were|does|do|did|has|have|had|will(?!\s+(you|u)\b)|can(?!\s+(you|u)\b)|could(?!\s+(you|u)\b))\b/i;

/** True for a question asking for information (not a polite request such as "can you turn on ..."). */
export function isQuestion(text: string): boolean {
  if (!text.trim().endsWith("?")) return QUESTION_OPENING.test(text);
  // "..., can you help?" asks for an action, not for information: judge the last clause.
  const lastClause = text.split(/[,;:]/).at(-1)!;
  return !/^\s*(can|could|would|will)\s+(you|u)\b/i.test(lastClause) && !/^\s*(can|could|would|will)\s+(you|u)\b/i.test(text);
}

/**
 * True when `text` names something a tool of `lexical` could act on: a word of a tool's name (not a
 * namespace such as "mcp"), a file path or a web address. A knowledge question or a remark ("explain
 * how recursion works") uses only a field's common words; a request for a tool usually names its
 * object or its action the way the tool does.
 */
export function lexicallyAnchored(text: string, lexical: LexicalIndex): boolean {
  return terms(text).some((t) => lexical.isNameWord(t)) || WEB_ADDRESS.test(text) || FILE_PATH.test(text);
}

/**
 * The lexical query: every segment's terms (embed-only segments left out), each counted once per
 * segment with the segment's weight (place words PLACE_TERM_WEIGHT of it), plus the slot
 * pseudo-terms of the last user message (tool-doc.ts): SLOT_NUMBER when it holds a number,
 * SLOT_PERCENT for "50%", "50 percent" or a fraction ("halfway"), SLOT_PLACE when it names a place,
 * SLOT_QUESTION when it is a question, SLOT_URL when it holds a web address, SLOT_PATH when it
 * holds a file path or a file name.
 */
export function queryTerms(query: ConversationQuery): Map<string, number> {
  const { placesIn, withoutPlaces } = query.domain.places;
  const out = new Map<string, number>();
  for (const { text, weight, embedOnly } of query.segments) {
    if (embedOnly) continue;
    const own = new Set(terms(withoutPlaces(text)));
    for (const t of own) out.set(t, (out.get(t) ?? 0) + weight);
    for (const t of new Set(terms(placesIn(text).join(" ")))) if (!own.has(t)) out.set(t, (out.get(t) ?? 0) + weight * PLACE_TERM_WEIGHT);
  }
  for (const [t, w] of query.bridges ?? []) out.set(t, Math.max(out.get(t) ?? 0, w));
  const current = query.segments[0];
  // Numbers the user gave fit tools with numeric parameters; "50%" fits percentages (tool-doc.ts).
  if (current && /\d/.test(current.text)) out.set(SLOT_NUMBER, 1);
  if (current && /\d\s*(%|percent)|\b(half|halfway|partway|partly|partially|quarter|third)\b/i.test(current.text)) out.set(SLOT_PERCENT, 1);
  if (current && placesIn(current.text).length > 0) out.set(SLOT_PLACE, 1);
  if (current && !FOLLOW_UP_OPENING.test(current.text) && isQuestion(current.text)) out.set(SLOT_QUESTION, 1);
  const url = current ? WEB_ADDRESS.test(current.text) : false;
  if (url) out.set(SLOT_URL, 1);
  if (current && FILE_PATH.test(url ? current.text.replace(WEB_ADDRESS_GLOBAL, " ") : current.text)) out.set(SLOT_PATH, 1);
  return out;
}
