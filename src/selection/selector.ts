/**
 * The tool selector service: long-lived (it outlives config reloads, hung on the Runtime), owning
 * the embedding Worker and the caches. `select()` ranks one request's tools and decides which to
 * keep; it never throws for a ranking problem and never waits for embeddings longer than the
 * request's deadline: then, or when the model is missing, the lexical ranking alone is used.
 *
 * Everything derived from a tool set (documents, BM25 statistics, related tools, language and
 * vocabulary, token estimates, view embeddings) is built once per distinct tool set, keyed by a hash
 * of the tools' JSON, and reused: Home Assistant sends the same tools with every request, so per
 * request only the conversation is analysed, and a conversation already seen with these tools is
 * answered from memory. Caches: tool sets (LRU), tool documents by a digest of the tool's JSON (LRU,
 * shared by tool sets that overlap), tool view embeddings in memory and in SQLite (cache.ts; new
 * tools are embedded in one batch), query embeddings by text (LRU; concurrent requests for one text
 * share one call), outcomes by conversation (LRU).
 */
import { join } from "node:path";
import type { SelectionConfig, UpstreamConfig } from "../config/schema.ts";
import type { ChatCompletionRequest, ChatMessage, ContentPart, Tool } from "../protocol/openai.ts";
import { jsonTextOf } from "../protocol/raw-json.ts";
import { bridgeTerms, nameVocabulary, unknownWords, type BridgeWord } from "./bridge.ts";
import { docBytes, embeddingKey, EmbeddingStore, Lru, viewBytes } from "./cache.ts";
import { isSmallTalk, noToolProbes, typicalLexical } from "./calibration.ts";
import { loadPacks, packsFor, type DomainPack } from "./domain-pack.ts";
import { WorkerEmbedder, type Embedder } from "./embedder.ts";
import { HttpEmbedder } from "./http-embedder.ts";
import { foreignLanguage, toolLanguage, type ToolLanguage } from "./language.ts";
import { LexicalIndex } from "./lexical.ts";
import { buildQuery, lexicallyAnchored, messageText, type ConversationQuery } from "./query.ts";
import { decide, scoreTools, type RankingSignals, type SelectionMode, type ToolDecision, type ToolSetIndex } from "./rank.ts";
import { relatedTools } from "./related.ts";
import type { ResolvedSettings } from "./settings.ts";
import { toolTokens } from "./tokens.ts";
import { terms } from "./text.ts";
import { sha256Hex, toolDoc, type ToolDoc } from "./tool-doc.ts";

export interface SelectionResult {
  /** The kept tools: the request's own objects, in the request's order. */
  kept: Tool[];
  /**
   * One per tool, in the request's order. Read-only: a remembered outcome's are shared by the
   * requests it answers (the array is frozen; the decisions are typed read-only, freezing each cost
   * ~0.2 µs, 7 µs a request for 34 tools).
   */
  decisions: readonly Readonly<ToolDecision>[];
  /** What ran: hybrid | lexical | semantic | off | skipped (min_tools) | lexical (deadline) | lexical (model unavailable) | ... */
  mode: string;
  /** Time spent selecting, ms. */
  ms: number;
  /** Estimated o200k_base tokens of the tools received and kept (sum over the tools' minified JSON; tokens.ts). */
  tokensBefore: number;
  tokensAfter: number;
  /**
   * Per tool, in the request's order: its hash (tool-doc.ts) and its estimated o200k_base tokens.
   * Frozen, and the same arrays for every request with this tool set: callers may key per-tool-set
   * work by them (WeakMap).
   */
  hashes: readonly string[];
  tokens: readonly number[];
}

export interface ToolSelectorOptions {
  dataDir: string;
  config: SelectionConfig;
  /** Replaces the Worker embedder (tests, benchmarks). */
  embedder?: Embedder;
  /** The running config's upstream of that name (for `selection.embeddings`); the selector outlives reloads. */
  upstream?: (name: string) => UpstreamConfig | undefined;
}

interface IndexEntry {
  /** The tools' JSON, compared on a hash hit so that a collision is a miss, never another set's index. */
  json: string;
  index: ToolSetIndex;
  /** Per tool, its hash and its estimated tokens (frozen). */
  hashes: readonly string[];
  tokens: readonly number[];
  /** The sum of `tokens`. */
  totalTokens: number;
  /** Per tool, its view embeddings, once known. */
  views?: Float32Array[][];
  /** The tools' language and vocabulary (language.ts). */
  language: ToolLanguage;
  /** Words of the tools' names that request words are bridged to (bridge.ts), and their embeddings once known. */
  vocabulary: BridgeWord[];
  vocabularyVectors?: Float32Array[];
  /** In-flight embedding of the tools' views. */
  pending?: Promise<Float32Array[][] | undefined>;
}

const DEADLINE = Symbol("deadline");
/** Memory for tool sets' JSON (the identity check of a hash hit): a few dozen ordinary sets, or one huge one. */
const INDEX_BYTES = 16 << 20;
/** Remembered outcomes (each ~3 KB of decisions for 34 tools plus a key of at most MAX_OUTCOME_KEY: under 2 MB in all). */
const OUTCOMES = 256;
/** Longer conversations (history, images, tool results) are not remembered: they do not recur verbatim, and keys this long would weigh on memory. */
const MAX_OUTCOME_KEY = 4096;
/**
 * Longest tool list ranked, in characters of its JSON (~128k tokens: more tools than any context we
 * serve holds, 4x OpenAI's 128 functions at 1 KB each). Indexing a new list costs the event loop
 * ~25 ms per MB (bench/fuzz.ts: a 1.7 MB list held it ~40 ms), so a longer one is forwarded as is.
 */
export const MAX_RANKED_TOOLS_CHARS = 512 * 1024;

/**
 * Texts sent to an embedder are cut to this many characters: every embedding model reads at most a
 * few thousand tokens (USE-lite 128, MiniLM 256, bge-m3 8,192), and one huge tool description must
 * not occupy the model or an upstream for long.
 */
const MAX_EMBED_CHARS = 8192;
const clip = (text: string) => (text.length > MAX_EMBED_CHARS ? text.slice(0, MAX_EMBED_CHARS) : text);

/**
 * The query reads at most this many characters of a message: its start (English requests open with
 * their action) and its end (a question after pasted text), half each. The analysis is linear, but
 * at ~0.4 µs a character a 500 KB message would hold the event loop for 0.2 s.
 */
const MAX_QUERY_CHARS = 4000;
const clipText = (text: string) => (text.length > MAX_QUERY_CHARS ? `${text.slice(0, MAX_QUERY_CHARS / 2)} … ${text.slice(-MAX_QUERY_CHARS / 2)}` : text);

/** `message` with its text cut to what the query reads (the request itself is not changed). */
function bounded(message: ChatMessage): ChatMessage {
  const { content } = message;
  if (typeof content === "string") return content.length > MAX_QUERY_CHARS ? { ...message, content: clipText(content) } : message;
  const long = (p: ContentPart) => p?.type === "text" && typeof p.text === "string" && p.text.length > MAX_QUERY_CHARS;
  if (!Array.isArray(content) || !content.some(long)) return message;
  return { ...message, content: content.map((p) => (long(p) && p.type === "text" ? { ...p, text: clipText(p.text as string) } : p)) };
}

/**
 * What the selection of one request depends on besides its tools, settings and embedder: the
 * messages (query.ts reads user and assistant text and tool_calls; system content is left out, so
 * Home Assistant's prompt, which carries the time of day, does not make every request new) and
 * tool_choice. Must cover everything buildQuery and decide read.
 */
function conversationKey(request: ChatCompletionRequest): string {
  const messages = Array.isArray(request.messages) ? request.messages.map((m) => (m?.role === "system" ? "system" : m)) : [];
  return JSON.stringify([messages, request.tool_choice ?? null]);
}
/** Memory for tool documents: ordinary tools take 2-4 KB, so 4,096 of them fit with room to spare. */
const DOCS_BYTES = 32 << 20;
/** Memory for tools' view embeddings: 4,096 tools x ~4 views x 384-512 floats is 24-32 MiB. */
const VIEWS_BYTES = 64 << 20;
/** Weight of a bridged tool-name word (bridge.ts), as a share of a request word's: like a typo correction's (1 lost 2.7 points on general dev). */
const BRIDGE_WEIGHT = 0.6;

/** True when the conversation has a user or assistant turn before the last message. */
function hasEarlierTurns(messages: ChatCompletionRequest["messages"]): boolean {
  return Array.isArray(messages) && messages.filter((m) => m?.role === "user" || m?.role === "assistant").length > 1;
}
/**
 * The user message a reply answers, when the reply is to be judged by it (the small-talk check):
 * the last user message is a follow-up (query.ts) that shares no word with any tool, it answers an
 * earlier user message, and no tool was called in the conversation (after a tool call, "ok" or
 * "the second one" continue a task). @returns that earlier message's text, or undefined
 */
function chatReply(messages: ChatCompletionRequest["messages"], query: ConversationQuery, index: ToolSetIndex): string | undefined {
  if (!query.followUp || query.historyToolCalls.size > 0 || !Array.isArray(messages)) return undefined;
  if (messages.some((m) => m?.role === "tool")) return undefined;
  const answered = messages.filter((m) => m?.role === "user").at(-2);
  if (!answered) return undefined;
  const current = query.segments[0]?.text ?? "";
  if (index.lexical.score(new Map(terms(current).map((t) => [t, 1]))).some((s) => s > 0)) return undefined;
  const text = messageText(answered);
  return text.trim() ? text : undefined;
}
/** The kept tools' positions and their tokens, by a (frozen) decisions array: once per remembered outcome. */
const keptOf = new WeakMap<readonly Readonly<ToolDecision>[], { at: number[]; tokens: number }>();
/** `decisions` frozen: shared by every request a remembered outcome answers, never changed. */
const freezeDecisions = (decisions: ToolDecision[]): readonly Readonly<ToolDecision>[] => Object.freeze(decisions);
/** Names of multilingual embedding models: paraphrase-multilingual-*, multilingual-e5-*, bge-m3, LaBSE, distiluse-*-multilingual, XLM-R based. */
const MULTILINGUAL_MODEL = /multilingual|bge-m3|labse|xlm|distiluse/i;

export class ToolSelector {
  private config: SelectionConfig;
  private embedder: Embedder | undefined;
  private readonly store: EmbeddingStore;
  // Keyed by digests and bounded in bytes: tools are the client's, and a key or an entry must not
  // cost what the client makes it cost (a 16,000-character tool once held its JSON as a key).
  private readonly docs = new Lru<string, ToolDoc>(4096, docBytes, DOCS_BYTES);
  /** Tool sets by Bun.hash of their JSON: few distinct sets per deployment (one per client kind). */
  private readonly indexes = new Lru<number | bigint, IndexEntry>(32, (e) => 2 * e.json.length, INDEX_BYTES);
  private readonly toolViews = new Lru<string, Float32Array[]>(4096, viewBytes, VIEWS_BYTES);
  private queries: Lru<string, Float32Array>;
  /** Query texts being embedded: a burst of requests with one text makes one call. */
  private readonly pendingQueries = new Map<string, Promise<Float32Array | undefined>>();
  /**
   * Decisions by conversation (conversationKey) and settings, for the tool set they were made on
   * (`entry`, compared by identity): Home Assistant repeats commands ("turn off the lights") with
   * the same tools, and the same question about the same tools gets the same answer.
   */
  // The tool set's entry is held weakly: an outcome must not keep a tool set (its JSON, up to the
  // body limit) alive after the index cache let it go (256 outcomes once held 53 MiB of fuzzed tools).
  private readonly outcomes = new Lru<string, { entry: WeakRef<IndexEntry>; decisions: readonly Readonly<ToolDecision>[]; mode: string }>(OUTCOMES);
  private warned = false;
  /** Probe embeddings (calibration.ts): small talk, and small talk with the answerable probes; the embedder that made them. */
  private chat: { embedder: Embedder; smallTalk: Float32Array[]; all: Float32Array[] } | undefined;
  private readonly dataDir: string;
  private readonly upstream: (name: string) => UpstreamConfig | undefined;
  private packs: { auto: boolean; packs: DomainPack[] };

  /** @throws when the data directory cannot hold the embedding store; DomainPackError for an unusable `packs` entry */
  constructor(options: ToolSelectorOptions) {
    this.dataDir = options.dataDir;
    this.config = options.config;
    this.packs = loadPacks(options.config.packs);
    this.store = new EmbeddingStore(options.dataDir);
    this.queries = new Lru(Math.max(1, options.config.query_cache_size));
    this.embedder = options.embedder;
    this.upstream = options.upstream ?? (() => undefined);
  }

  /**
   * Applies a reloaded `selection` section; a new model (or models_dir, dtype, embeddings upstream) replaces the embedder.
   * @throws DomainPackError for an unusable `packs` entry (the old settings stay)
   */
  configure(config: SelectionConfig): void {
    const old = this.config;
    const packs = loadPacks(config.packs);
    if (JSON.stringify(config.packs) !== JSON.stringify(old.packs) || config.calibrate !== old.calibrate) this.indexes.clear();
    this.packs = packs;
    this.config = config;
    if (config.query_cache_size !== old.query_cache_size) this.queries = new Lru(Math.max(1, config.query_cache_size));
    const modelChanged =
      config.embedding_model !== old.embedding_model ||
      config.models_dir !== old.models_dir ||
      config.dtype !== old.dtype ||
      config.embeddings?.upstream !== old.embeddings?.upstream ||
      config.embeddings?.model !== old.embeddings?.model;
    if (modelChanged && (this.embedder instanceof WorkerEmbedder || this.embedder instanceof HttpEmbedder)) this.useEmbedder(undefined);
    // Decisions depend on every setting (packs, calibration, ...): a reload starts afresh.
    this.outcomes.clear();
  }

  /** Replaces the embedder (closing the old one); undefined means: start the configured one when first needed. */
  useEmbedder(embedder: Embedder | undefined): void {
    // The old one releases its model in the background (a reload does not wait for it).
    void this.embedder?.close();
    this.embedder = embedder;
    this.chat = undefined;
    this.warned = false;
    // Indexes hold the old model's embeddings; they are rebuilt cheaply.
    this.indexes.clear();
    this.queries.clear();
    this.pendingQueries.clear();
    this.outcomes.clear();
  }

  /** The embedder's state, for health and tests. */
  get embedderStatus(): "none" | Embedder["status"] {
    return this.embedder?.status ?? "none";
  }

  /** Starts the embedder if needed; resolves once it has loaded (true) or failed (false). */
  async ready(): Promise<boolean> {
    return (await this.currentEmbedder()?.ready()) ?? false;
  }

  /**
   * Ranks `request.tools` and decides which to keep.
   * @returns undefined when the request carries no tools, or more than MAX_RANKED_TOOLS_CHARS of them
   */
  async select(request: ChatCompletionRequest, settings: ResolvedSettings): Promise<SelectionResult | undefined> {
    const started = performance.now();
    const tools = request.tools;
    if (!Array.isArray(tools) || tools.length === 0) return undefined;
    const json = jsonTextOf(tools) ?? JSON.stringify(tools);
    if (json.length > MAX_RANKED_TOOLS_CHARS) return undefined;
    const entry = this.indexFor(tools, json);
    const { index, tokens } = entry;
    const outcomeKey = `${conversationKey(request)}\n${JSON.stringify(settings)}`;
    const remember = outcomeKey.length <= MAX_OUTCOME_KEY;
    const known = remember ? this.outcomes.get(outcomeKey) : undefined;
    if (known?.entry.deref() === entry) return this.result(tools, entry, known.decisions, known.mode, started);
    const query = buildQuery(Array.isArray(request.messages) ? request.messages.map(bounded) : [], index.domain);

    let mode: string = settings.mode;
    let toolViews: Float32Array[][] | undefined;
    let queryVectors: Float32Array[] | undefined;
    let answeredVector: Float32Array | undefined;
    let answeredText: string | undefined;
    const skipped = settings.mode === "off" || tools.length <= settings.min_tools;
    if (skipped) mode = settings.mode === "off" ? "off" : "skipped (min_tools)";
    else if (settings.mode !== "lexical") {
      const texts = [...query.segments, ...query.clauses].map((s) => s.text);
      const unknown = settings.bridge > 0 ? unknownWords(query.segments[0]?.text ?? "", index.lexical) : [];
      // A reply in a conversation without tool calls is judged by the user turn it answers (usually cached).
      const answered = chatReply(request.messages, query, index);
      answeredText = answered;
      const semantic = await this.embeddings(entry, [...texts, ...unknown, ...(answered ? [answered] : [])], settings.deadline_ms);
      if (typeof semantic === "string") mode = `lexical (${semantic})`;
      else {
        [toolViews, queryVectors] = semantic;
        if (unknown.length > 0 && entry.vocabularyVectors) query.bridges = bridgeTerms(queryVectors.slice(texts.length, texts.length + unknown.length), entry.vocabulary, entry.vocabularyVectors, settings.bridge, BRIDGE_WEIGHT);
        answeredVector = answered ? queryVectors[texts.length + unknown.length] : undefined;
        queryVectors = queryVectors.slice(0, texts.length);
      }
    }
    const effective = mode === settings.mode ? settings.mode : "lexical";
    let ranking: SelectionMode = skipped ? "lexical" : effective;
    const signals: RankingSignals = {};
    const current = query.segments[0]?.text ?? "";
    const foreign = skipped ? undefined : await foreignLanguage(current, entry.language);
    if (foreign && toolViews && this.multilingual()) ranking = "semantic";
    else if (foreign) signals.foreignLanguage = foreign;
    // A reply in a conversation ("sure", "the first one") leans on the turns before it: never small talk on its own,
    // but small talk when it answers small talk and no tool was called ("a bedtime story?" - "dragons").
    const reply = query.followUp && hasEarlierTurns(request.messages);
    const judged = reply ? answeredVector : queryVectors?.[0];
    if (toolViews && judged && this.chat) {
      // Knowledge questions, writing, opinions count as small talk only when nothing in the message is a tool's to act on.
      const judgedText = reply ? (answeredText ?? "") : current;
      const open = this.config.answerable_probes && !lexicallyAnchored(judgedText, index.lexical);
      signals.smallTalk = isSmallTalk(judged, open ? this.chat.all : this.chat.smallTalk, toolViews);
    }
    const scores = scoreTools(index, query, ranking, toolViews, queryVectors, settings.server_bonus);
    const decisions = freezeDecisions(decide({ index, scores, query, settings: { ...settings, mode: settings.mode === "off" ? "off" : ranking }, toolChoice: request.tool_choice, tokens, signals }));
    // A fallback (deadline, model loading) is not remembered: the next such request gets the full ranking.
    if (remember && (skipped || mode === settings.mode)) this.outcomes.set(outcomeKey, { entry: new WeakRef(entry), decisions, mode });
    return this.result(tools, entry, decisions, mode, started);
  }

  private result(tools: Tool[], entry: IndexEntry, decisions: readonly Readonly<ToolDecision>[], mode: string, started: number): SelectionResult {
    const { hashes, tokens, totalTokens } = entry;
    let summary = keptOf.get(decisions);
    if (!summary) {
      const at = decisions.flatMap((d, i) => (d.kept ? [i] : []));
      keptOf.set(decisions, (summary = { at, tokens: at.reduce((s, i) => s + tokens[i]!, 0) }));
    }
    const kept = summary.at.map((i) => tools[i]!);
    const tokensAfter = summary.tokens;
    return { kept, decisions, mode, ms: performance.now() - started, tokensBefore: totalTokens, tokensAfter, hashes, tokens };
  }

  /** Closes the store at once; resolves once the embedder has released its model (WorkerEmbedder.close()). */
  async close(): Promise<void> {
    const embedder = this.embedder;
    this.embedder = undefined;
    this.store.close();
    await embedder?.close();
  }

  /** The embedder, started on first use so that proxies that never see tools never load a model. */
  private currentEmbedder(): Embedder | undefined {
    if (this.embedder) return this.embedder;
    const c = this.config;
    const perModel = Object.values(c.models).some((m) => m.mode === "hybrid" || m.mode === "semantic");
    if (c.mode !== "hybrid" && c.mode !== "semantic" && !perModel) return undefined;
    if (c.embeddings) {
      const { upstream, model } = c.embeddings;
      this.embedder = new HttpEmbedder({ upstream, model, config: () => this.upstream(upstream), maxInFlight: c.queue_size });
      return this.embedder;
    }
    this.embedder = new WorkerEmbedder({ model: c.embedding_model, modelsDir: c.models_dir || undefined, cacheDir: join(this.dataDir, "models"), dtype: c.dtype, maxQueue: c.queue_size });
    return this.embedder;
  }

  private docFor(tool: Tool, json: string): ToolDoc {
    const key = sha256Hex(json);
    let doc = this.docs.get(key);
    if (!doc) this.docs.set(key, (doc = toolDoc(tool)));
    return doc;
  }

  /**
   * The tool set's entry, built on its first request. Per request this costs one hash of the tools'
   * bytes as the client sent them (a body's cached `tools`, protocol/raw-json.ts), or of their
   * JSON.stringify when the tools were made by the proxy (augment, the Ollama front).
   */
  private indexFor(tools: Tool[], json: string): IndexEntry {
    const key = Bun.hash(json);
    const known = this.indexes.get(key);
    if (known?.json === json) {
      // The same text in another string (first serialised, then the client's bytes): compared by reference from now on.
      known.json = json;
      return known;
    }
    const toolJson = tools.map((t) => JSON.stringify(t));
    const docs = tools.map((t, i) => this.docFor(t, toolJson[i]!));
    const names = docs.map((d) => d.name);
    const domain = packsFor(this.packs, names);
    const lexical = new LexicalIndex(docs);
    const texts = docs.flatMap((d) => [d.fields.name, d.fields.description, d.fields.paramDescriptions]);
    const tokens = toolTokens(toolJson);
    const entry: IndexEntry = {
      json,
      index: { docs, lexical, related: relatedTools(names, { opposites: domain.opposites }), domain, typicalLexical: this.config.calibrate ? typicalLexical(lexical) : undefined },
      hashes: Object.freeze(docs.map((d) => d.hash)),
      tokens: Object.freeze(tokens),
      totalTokens: tokens.reduce((a, b) => a + b, 0),
      language: toolLanguage(texts),
      vocabulary: nameVocabulary(docs),
    };
    this.indexes.set(key, entry);
    return entry;
  }

  /** Warns once per embedder that selection runs lexical-only. */
  private warn(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    console.warn(`llm-proxy: tool selection runs lexical-only: ${reason}`);
  }

  /**
   * The tools' view embeddings and the query segments' embeddings, or why there are none
   * ("deadline", "model loading", "model unavailable", "embedding failed").
   */
  private async embeddings(entry: IndexEntry, texts: string[], deadlineMs: number): Promise<[Float32Array[][], Float32Array[]] | string> {
    const embedder = this.currentEmbedder();
    if (!embedder) return "no embedding model";
    if (embedder.status === "failed") {
      this.warn(`embedding model ${embedder.model} could not be loaded${embedder.failure ? ` (${embedder.failure})` : ""}`);
      return "model unavailable";
    }
    if (embedder.status === "loading" && !entry.views) {
      // Start the tool batch now so it is ready when the model is.
      entry.pending ??= this.embedTools(entry, embedder);
      return "model loading";
    }
    const work = Promise.all([entry.views ?? (entry.pending ??= this.embedTools(entry, embedder)), this.embedQueries(texts, embedder)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<typeof DEADLINE>((resolve) => (timer = setTimeout(() => resolve(DEADLINE), deadlineMs)));
    try {
      const result = await Promise.race([work, deadline]);
      if (result === DEADLINE) return "deadline";
      const [views, queries] = result;
      if (!views || !queries) return "embedding failed";
      return [views, queries];
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  /** Loads the tools' view embeddings from memory or SQLite and embeds the missing ones in one batch. */
  private async embedTools(entry: IndexEntry, embedder: Embedder): Promise<Float32Array[][] | undefined> {
    try {
      const { docs } = entry.index;
      const keys = docs.map((d) => embeddingKey(embedder.model, d.hash));
      const views = keys.map((k, i) => {
        // A tool with no text to embed (no name words, no description) has no views: nothing to look up or store.
        if (docs[i]!.views.length === 0) return [];
        const known = this.toolViews.get(k) ?? this.store.get(k);
        if (known) this.toolViews.set(k, known);
        return known;
      });
      const missing = docs.map((_, i) => i).filter((i) => !views[i]);
      // One batch: the new tools' views, the tool-name words (bridge.ts) and, once per model, the small-talk probes.
      const needChat = this.chat?.embedder !== embedder;
      const words = entry.vocabulary.map((w) => w.word);
      const texts = [...missing.flatMap((i) => docs[i]!.views.map(clip)), ...words, ...(needChat ? [...noToolProbes().small_talk, ...noToolProbes().answerable] : [])];
      const vectors = texts.length > 0 ? (await embedder.embed(texts)).map((v) => Float32Array.from(v)) : [];
      let at = 0;
      const fresh = missing.map((i) => {
        const own = vectors.slice(at, (at += docs[i]!.views.length));
        views[i] = own;
        this.toolViews.set(keys[i]!, own);
        return { key: keys[i]!, vectors: own };
      });
      if (fresh.length > 0) this.store.putMany(fresh);
      const vocabularyVectors = vectors.slice(at, (at += words.length));
      if (this.embedder !== embedder) return undefined;
      if (needChat) {
        const all = vectors.slice(at);
        this.chat = { embedder, smallTalk: all.slice(0, noToolProbes().small_talk.length), all };
      }
      entry.vocabularyVectors = vocabularyVectors;
      entry.views = views as Float32Array[][];
      return entry.views;
    } catch {
      entry.pending = undefined;
      return undefined;
    }
  }

  /** True when the configured embedding model understands many languages (config, else guessed from its name). */
  private multilingual(): boolean {
    return this.config.embedding_multilingual ?? MULTILINGUAL_MODEL.test(this.config.embeddings?.model ?? this.config.embedding_model);
  }

  /**
   * Query segment embeddings through the LRU; texts missing from it are embedded in one batch, or
   * awaited when another request is already embedding them. Undefined when the embedder failed.
   */
  private async embedQueries(texts: string[], embedder: Embedder): Promise<Float32Array[] | undefined> {
    const found = new Map<string, Float32Array | Promise<Float32Array | undefined>>();
    const missing: string[] = [];
    for (const t of texts) {
      if (found.has(t)) continue;
      const v = this.queries.get(t) ?? this.pendingQueries.get(t);
      if (v) found.set(t, v);
      else missing.push(t);
    }
    if (missing.length > 0) {
      const batch = embedder.embed(missing.map(clip));
      missing.forEach((t, i) => {
        const one = batch.then(
          (vectors) => {
            const v = Float32Array.from(vectors[i]!);
            if (this.embedder === embedder) this.queries.set(t, v);
            return v;
          },
          () => undefined,
        );
        const settled: Promise<Float32Array | undefined> = one.finally(() => {
          if (this.pendingQueries.get(t) === settled) this.pendingQueries.delete(t);
        });
        this.pendingQueries.set(t, settled);
        found.set(t, settled);
      });
    }
    const vectors = await Promise.all(texts.map((t) => found.get(t)!));
    return vectors.every((v): v is Float32Array => v !== undefined) ? vectors : undefined;
  }

  /** Empties the query-embedding LRU and the remembered outcomes (the eval measures cold queries this way). */
  forgetQueries(): void {
    this.queries.clear();
    this.outcomes.clear();
  }

  /** Counters for tests and the eval: stored tool embeddings. */
  get storedEmbeddings(): number {
    return this.store.count();
  }
}
