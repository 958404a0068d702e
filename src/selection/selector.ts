/**
 * The tool selector service: long-lived (it outlives config reloads, hung on the Runtime), owning
 * the embedding Worker and the caches. `select()` ranks one request's tools and decides which to
 * keep; it never throws for a ranking problem and never waits for embeddings longer than the
 * request's deadline: then, or when the model is missing, the lexical ranking alone is used.
 *
 * Caches: tool documents by the tool's JSON (LRU), tool-set indexes by the tools' hashes (LRU),
 * tool view embeddings in memory and in SQLite (cache.ts; new tools are embedded in one batch),
 * query embeddings by text (LRU).
 */
import { join } from "node:path";
import type { SelectionConfig } from "../config/schema.ts";
import type { ChatCompletionRequest, Tool } from "../protocol/openai.ts";
import { bridgeTerms, nameVocabulary, unknownWords, type BridgeWord } from "./bridge.ts";
import { docBytes, embeddingKey, EmbeddingStore, Lru, viewBytes } from "./cache.ts";
import { CHAT_PROBES, isSmallTalk, typicalLexical } from "./calibration.ts";
import { loadPacks, packsFor, type DomainPack } from "./domain-pack.ts";
import { WorkerEmbedder, type Embedder } from "./embedder.ts";
import { foreignLanguage, loadDetector, toolLanguage, type ToolLanguage } from "./language.ts";
import { LexicalIndex } from "./lexical.ts";
import { buildQuery, messageText, type ConversationQuery } from "./query.ts";
import { decide, scoreTools, type RankingSignals, type SelectionMode, type ToolDecision, type ToolSetIndex } from "./rank.ts";
import { relatedTools } from "./related.ts";
import type { ResolvedSettings } from "./settings.ts";
import { toolTokens } from "./tokens.ts";
import { terms } from "./text.ts";
import { sha256Hex, toolDoc, type ToolDoc } from "./tool-doc.ts";

export interface SelectionResult {
  /** The kept tools: the request's own objects, in the request's order. */
  kept: Tool[];
  /** One per tool, in the request's order. */
  decisions: ToolDecision[];
  /** What ran: hybrid | lexical | semantic | off | skipped (min_tools) | lexical (deadline) | lexical (model unavailable) | ... */
  mode: string;
  /** Time spent selecting, ms. */
  ms: number;
  /** o200k_base tokens of the tools received and kept (sum over the tools' minified JSON). */
  tokensBefore: number;
  tokensAfter: number;
}

export interface ToolSelectorOptions {
  dataDir: string;
  config: SelectionConfig;
  /** Replaces the Worker embedder (tests, benchmarks). */
  embedder?: Embedder;
}

interface IndexEntry {
  index: ToolSetIndex;
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
/** Names of multilingual embedding models: paraphrase-multilingual-*, multilingual-e5-*, bge-m3, LaBSE, distiluse-*-multilingual, XLM-R based. */
const MULTILINGUAL_MODEL = /multilingual|bge-m3|labse|xlm|distiluse/i;

export class ToolSelector {
  private config: SelectionConfig;
  private embedder: Embedder | undefined;
  private readonly store: EmbeddingStore;
  // Keyed by digests and bounded in bytes: tools are the client's, and a key or an entry must not
  // cost what the client makes it cost (a 16,000-character tool once held its JSON as a key).
  private readonly docs = new Lru<string, ToolDoc>(4096, docBytes, DOCS_BYTES);
  private readonly indexes = new Lru<string, IndexEntry>(32);
  private readonly toolViews = new Lru<string, Float32Array[]>(4096, viewBytes, VIEWS_BYTES);
  private queries: Lru<string, Float32Array>;
  private warned = false;
  /** Small-talk probe embeddings (calibration.ts) and the embedder that made them, once known. */
  private chat: { embedder: Embedder; vectors: Float32Array[] } | undefined;
  private detectorTried = false;
  private readonly dataDir: string;
  private packs: { auto: boolean; packs: DomainPack[] };

  /** @throws when the data directory cannot hold the embedding store; DomainPackError for an unusable `packs` entry */
  constructor(options: ToolSelectorOptions) {
    this.dataDir = options.dataDir;
    this.config = options.config;
    this.packs = loadPacks(options.config.packs);
    this.store = new EmbeddingStore(options.dataDir);
    this.queries = new Lru(Math.max(1, options.config.query_cache_size));
    this.embedder = options.embedder;
  }

  /**
   * Applies a reloaded `selection` section; a new model (or models_dir, dtype) restarts the Worker.
   * @throws DomainPackError for an unusable `packs` entry (the old settings stay)
   */
  configure(config: SelectionConfig): void {
    const old = this.config;
    const packs = loadPacks(config.packs);
    if (JSON.stringify(config.packs) !== JSON.stringify(old.packs) || config.calibrate !== old.calibrate) this.indexes.clear();
    this.packs = packs;
    this.config = config;
    if (config.query_cache_size !== old.query_cache_size) this.queries = new Lru(Math.max(1, config.query_cache_size));
    const modelChanged = config.embedding_model !== old.embedding_model || config.models_dir !== old.models_dir || config.dtype !== old.dtype;
    if (modelChanged && this.embedder instanceof WorkerEmbedder) this.useEmbedder(undefined);
  }

  /** Replaces the embedder (closing the old one); undefined means: start the configured one when first needed. */
  useEmbedder(embedder: Embedder | undefined): void {
    this.embedder?.close();
    this.embedder = embedder;
    this.chat = undefined;
    this.warned = false;
    // Indexes hold the old model's embeddings; they are rebuilt cheaply.
    this.indexes.clear();
    this.queries.clear();
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
   * @returns undefined when the request carries no tools
   */
  async select(request: ChatCompletionRequest, settings: ResolvedSettings): Promise<SelectionResult | undefined> {
    const started = performance.now();
    const tools = request.tools;
    if (!Array.isArray(tools) || tools.length === 0) return undefined;
    if (!this.detectorTried) {
      this.detectorTried = true;
      await loadDetector();
    }
    const entry = this.indexFor(tools);
    const { index } = entry;
    const query = buildQuery(Array.isArray(request.messages) ? request.messages : [], index.domain);
    const tokensP = toolTokens(tools, index.docs.map((d) => d.hash));

    let mode: string = settings.mode;
    let toolViews: Float32Array[][] | undefined;
    let queryVectors: Float32Array[] | undefined;
    let answeredVector: Float32Array | undefined;
    const skipped = settings.mode === "off" || tools.length <= settings.min_tools;
    if (skipped) mode = settings.mode === "off" ? "off" : "skipped (min_tools)";
    else if (settings.mode !== "lexical") {
      const texts = [...query.segments, ...query.clauses].map((s) => s.text);
      const unknown = settings.bridge > 0 ? unknownWords(query.segments[0]?.text ?? "", index.lexical) : [];
      // A reply in a conversation without tool calls is judged by the user turn it answers (usually cached).
      const answered = chatReply(request.messages, query, index);
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
    const foreign = skipped ? undefined : foreignLanguage(current, entry.language);
    if (foreign && toolViews && this.multilingual()) ranking = "semantic";
    else if (foreign) signals.foreignLanguage = foreign;
    // A reply in a conversation ("sure", "the first one") leans on the turns before it: never small talk on its own,
    // but small talk when it answers small talk and no tool was called ("a bedtime story?" - "dragons").
    const reply = query.followUp && hasEarlierTurns(request.messages);
    const judged = reply ? answeredVector : queryVectors?.[0];
    if (toolViews && judged && this.chat) signals.smallTalk = isSmallTalk(judged, this.chat.vectors, toolViews);
    const scores = scoreTools(index, query, ranking, toolViews, queryVectors, settings.server_bonus);
    const tokens = await tokensP;
    const decisions = decide({ index, scores, query, settings: { ...settings, mode: settings.mode === "off" ? "off" : ranking }, toolChoice: request.tool_choice, tokens, signals });
    const kept = tools.filter((_, i) => decisions[i]!.kept);
    const sum = (keptOnly: boolean) => tokens.reduce((s, n, i) => s + (!keptOnly || decisions[i]!.kept ? n : 0), 0);
    return { kept, decisions, mode, ms: performance.now() - started, tokensBefore: sum(false), tokensAfter: sum(true) };
  }

  /** Stops the Worker and closes the store. */
  close(): void {
    this.embedder?.close();
    this.embedder = undefined;
    this.store.close();
  }

  /** The embedder, started on first use so that proxies that never see tools never load a model. */
  private currentEmbedder(): Embedder | undefined {
    if (this.embedder) return this.embedder;
    const c = this.config;
    const perModel = Object.values(c.models).some((m) => m.mode === "hybrid" || m.mode === "semantic");
    if (c.mode !== "hybrid" && c.mode !== "semantic" && !perModel) return undefined;
    this.embedder = new WorkerEmbedder({ model: c.embedding_model, modelsDir: c.models_dir || undefined, cacheDir: join(this.dataDir, "models"), dtype: c.dtype, maxQueue: c.queue_size });
    return this.embedder;
  }

  private docFor(tool: Tool): ToolDoc {
    const key = sha256Hex(JSON.stringify(tool));
    let doc = this.docs.get(key);
    if (!doc) this.docs.set(key, (doc = toolDoc(tool)));
    return doc;
  }

  private indexFor(tools: Tool[]): IndexEntry {
    const docs = tools.map((t) => this.docFor(t));
    const key = docs.map((d) => d.hash).join(",");
    let entry = this.indexes.get(key);
    if (!entry) {
      const names = docs.map((d) => d.name);
      const domain = packsFor(this.packs, names);
      const lexical = new LexicalIndex(docs);
      const texts = docs.flatMap((d) => [d.fields.name, d.fields.description, d.fields.paramDescriptions]);
      entry = { index: { docs, lexical, related: relatedTools(names, { opposites: domain.opposites }), domain, typicalLexical: this.config.calibrate ? typicalLexical(lexical) : undefined }, language: toolLanguage(texts), vocabulary: nameVocabulary(docs) };
      this.indexes.set(key, entry);
    }
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
      const texts = [...missing.flatMap((i) => docs[i]!.views), ...words, ...(needChat ? CHAT_PROBES : [])];
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
      if (needChat) this.chat = { embedder, vectors: vectors.slice(at) };
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
    return this.config.embedding_multilingual ?? MULTILINGUAL_MODEL.test(this.config.embedding_model);
  }

  /** Query segment embeddings through the LRU; undefined when the embedder failed. */
  private async embedQueries(texts: string[], embedder: Embedder): Promise<Float32Array[] | undefined> {
    const known = new Map<string, Float32Array>();
    for (const t of texts) {
      const v = this.queries.get(t);
      if (v) known.set(t, v);
    }
    const missing = [...new Set(texts.filter((t) => !known.has(t)))];
    if (missing.length > 0) {
      try {
        const vectors = await embedder.embed(missing);
        missing.forEach((t, i) => {
          const v = Float32Array.from(vectors[i]!);
          known.set(t, v);
          this.queries.set(t, v);
        });
      } catch {
        return undefined;
      }
    }
    return texts.map((t) => known.get(t)!);
  }

  /** Empties the query-embedding LRU (the eval measures cold queries this way). */
  forgetQueries(): void {
    this.queries.clear();
  }

  /** Counters for tests and the eval: stored tool embeddings. */
  get storedEmbeddings(): number {
    return this.store.count();
  }
}
