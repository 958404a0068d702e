/**
 * An Embedder that asks an upstream for embeddings instead of running a model in the proxy: the
 * embedding model the user's LLM server already serves (Ollama `nomic-embed-text` or `bge-m3`,
 * llama.cpp `--embedding`, any OpenAI-compatible `/v1/embeddings`). onnxruntime is never loaded,
 * which saves a Raspberry Pi the memory of a second inference runtime.
 *
 * The request goes through the upstream's own backend (src/upstream/): OpenAI-compatible upstreams
 * get `POST /embeddings {model, input}`, Ollama upstreams `POST /api/embed {model, input}`, with the
 * upstream's key, headers and base_url as configured. Each call is sent once (no retries: the
 * selector has a deadline, and the next request tries again) and bounded by EMBED_TIMEOUT_MS.
 * After a failed call, calls fail at once for FAILURE_BACKOFF_MS, so an unreachable server costs a
 * request nothing but the lexical fallback. Vectors are L2-normalised here, as the local pipeline's are.
 */
import type { UpstreamConfig } from "../config/schema.ts";
import { BACKENDS } from "../upstream/registry.ts";
import { EmbedderUnavailable, type Embedder } from "./embedder.ts";

export interface HttpEmbedderOptions {
  /** The upstream's name, for messages and the cache key. */
  upstream: string;
  /** Model id as the upstream knows it. */
  model: string;
  /** The upstream's current config, looked up on every call so that a reload applies; undefined when it is gone. */
  config: () => UpstreamConfig | undefined;
  /** Calls allowed in flight at once; more reject at once (the selection falls back to lexical). */
  maxInFlight: number;
}

/** Longest wait for one call: a tool batch on a small CPU-bound server takes seconds; longer means it is stuck. */
const EMBED_TIMEOUT_MS = 30_000;
/** After a failure, calls fail without contacting the upstream for this long. */
const FAILURE_BACKOFF_MS = 5_000;
/** Inputs per call: well under OpenAI's 2,048 and small enough for llama.cpp's default batch. */
const MAX_INPUTS = 64;

/** Sends texts to an upstream's embeddings endpoint; see the module comment. */
export class HttpEmbedder implements Embedder {
  /** Part of the embedding cache key: vectors of one model from different servers are not mixed. */
  readonly model: string;
  /** Always "ready": an upstream has nothing to load; a failing one rejects calls instead. */
  readonly status = "ready" as const;
  private inFlight = 0;
  private failedUntil = 0;
  private closed = false;
  private readonly controllers = new Set<AbortController>();

  constructor(private readonly options: HttpEmbedderOptions) {
    this.model = `${options.model}@${options.upstream}`;
  }

  ready(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /**
   * @returns one L2-normalised vector per text, in order
   * @throws EmbedderUnavailable when closed, busy, backing off after a failure, or the upstream is not configured;
   *   Error when the upstream fails or answers something other than one vector per text
   */
  async embed(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const config = this.options.config();
    if (this.closed) throw new EmbedderUnavailable("embedder closed");
    if (!config) throw new EmbedderUnavailable(`embeddings upstream ${this.options.upstream} is not configured`);
    if (Date.now() < this.failedUntil) throw new EmbedderUnavailable(`embeddings upstream ${this.options.upstream} failed recently`);
    if (this.inFlight >= this.options.maxInFlight) throw new EmbedderUnavailable("embedding queue is full");
    this.inFlight++;
    try {
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += MAX_INPUTS) out.push(...(await this.call(config, texts.slice(i, i + MAX_INPUTS))));
      if (this.failedUntil > 0) console.warn(`llm-proxy: embeddings upstream ${this.options.upstream} answers again`);
      this.failedUntil = 0;
      return out;
    } catch (err) {
      if (this.closed) throw err;
      if (this.failedUntil === 0) console.warn(`llm-proxy: embeddings upstream ${this.options.upstream} failed, tool selection runs lexical-only for now: ${(err as Error).message}`);
      this.failedUntil = Date.now() + FAILURE_BACKOFF_MS;
      throw err;
    } finally {
      this.inFlight--;
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.controllers) c.abort(new EmbedderUnavailable("embedder closed"));
  }

  private async call(config: UpstreamConfig, input: string[]): Promise<Float32Array[]> {
    const bounded = { ...config, max_retries: 0, timeout_ms: Math.min(config.timeout_ms, EMBED_TIMEOUT_MS), idle_timeout_ms: Math.min(config.idle_timeout_ms, EMBED_TIMEOUT_MS) };
    // Model facts serve chat requests (the named tool_choice fix); an embeddings call needs none.
    const backend = BACKENDS[config.type]!(bounded, async () => ({}));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no embeddings within ${EMBED_TIMEOUT_MS} ms`)), EMBED_TIMEOUT_MS);
    this.controllers.add(controller);
    try {
      const { response } = await backend.embeddings({ model: this.options.model, input }, { signal: controller.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      const json = (await response.json()) as { data?: { index?: unknown; embedding?: unknown }[] };
      return vectorsOf(json, input.length);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }
}

/**
 * The vectors of an OpenAI embeddings reply, ordered by `index`, L2-normalised.
 * @throws Error unless it holds `count` float arrays of one non-zero dimension
 */
export function vectorsOf(json: { data?: { index?: unknown; embedding?: unknown }[] }, count: number): Float32Array[] {
  const data = json?.data;
  if (!Array.isArray(data) || data.length !== count) throw new Error(`expected ${count} embeddings, got ${Array.isArray(data) ? data.length : "none"}`);
  const ordered = [...data].sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0));
  const dim = Array.isArray(ordered[0]?.embedding) ? ordered[0].embedding.length : 0;
  return ordered.map(({ embedding }) => {
    if (!Array.isArray(embedding) || embedding.length !== dim || dim === 0) throw new Error("embeddings are not float arrays of one non-zero dimension");
    const v = Float32Array.from(embedding as number[]);
    let norm = 0;
    for (const x of v) norm += x * x;
    if (!Number.isFinite(norm) || norm === 0) throw new Error("an embedding is zero or not finite");
    norm = Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
    return v;
  });
}
