/**
 * The main-thread side of the embedding Worker (embed-worker.ts): starts it, loads the model, and
 * sends it one batch at a time from a bounded queue. A full queue or a model that failed to load
 * rejects at once, so callers can fall back to lexical ranking instead of waiting.
 */
import type { WorkerReply, WorkerRequest } from "./embed-worker.ts";

/** Turns texts into L2-normalised vectors. */
export interface Embedder {
  /** Model id; part of the embedding cache key. */
  readonly model: string;
  /** "loading" until the model answered, then "ready" or "failed". */
  readonly status: "loading" | "ready" | "failed";
  /** Why the model could not be loaded, once status is "failed". */
  readonly failure?: string;
  /** Resolves true once the model is loaded, false when it cannot be. */
  ready(): Promise<boolean>;
  /** @throws EmbedderUnavailable when the model failed or the queue is full; Error when inference fails */
  embed(texts: string[]): Promise<Float32Array[]>;
  /** Rejects what is queued and releases the model; resolves once it is released (bounded wait). */
  close(): Promise<void> | void;
}

export class EmbedderUnavailable extends Error {
  override name = "EmbedderUnavailable";
}

export interface WorkerEmbedderOptions {
  /** transformers.js model id, e.g. "Xenova/all-MiniLM-L6-v2". */
  model: string;
  /** Folder holding `<model>/`; when set, nothing is downloaded. */
  modelsDir?: string;
  /** Where downloaded models are kept. */
  cacheDir: string;
  /** ONNX weights variant: "q8" (model_quantized.onnx), "fp32", ... */
  dtype: string;
  /** Batches waiting beyond the one in flight (default 32). */
  maxQueue?: number;
}

/**
 * How long close() waits for the Worker to release its ONNX session before terminating it anyway,
 * ms: a batch in flight finishes first (tens of ms), and a shutdown must not hang on a stuck Worker.
 */
const DISPOSE_TIMEOUT_MS = 2_000;

interface Job {
  texts: string[];
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: Error) => void;
}

/** Runs the model in a Worker thread; see the module comment. */
export class WorkerEmbedder implements Embedder {
  readonly model: string;
  status: "loading" | "ready" | "failed" = "loading";
  /** Why loading failed, when it did. */
  failure: string | undefined;
  private readonly worker: Worker;
  private readonly queue: Job[] = [];
  private inFlight: (Job & { id: number }) | undefined;
  private nextId = 1;
  private readonly loaded: Promise<boolean>;
  private readonly maxQueue: number;
  private closing: Promise<void> | undefined;
  private disposed: () => void = () => {};
  private crashed = false;

  constructor(options: WorkerEmbedderOptions) {
    this.model = options.model;
    this.maxQueue = options.maxQueue ?? 32;
    // In the executable, onnxruntime's native files are unpacked from it on first use: next to the models.
    const env = { ...process.env, LLM_PROXY_NATIVE_DIR: process.env.LLM_PROXY_NATIVE_DIR || options.cacheDir };
    // smol: the Worker's heap grows in small steps (it holds little besides the model's tensors).
    this.worker = new Worker(new URL("./embed-worker.ts", import.meta.url).href, { env: env as Record<string, string>, smol: true });
    this.worker.unref?.();
    let settle: (ok: boolean) => void = () => {};
    this.loaded = new Promise((resolve) => (settle = resolve));
    this.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const msg = event.data;
      if (msg.type === "ready") {
        this.status = "ready";
        settle(true);
      } else if (msg.type === "failed") {
        this.fail(msg.message);
        settle(false);
      } else if (msg.type === "disposed") this.disposed();
      else this.answer(msg);
    };
    this.worker.onerror = (event) => {
      this.crashed = true;
      this.fail(event.message ?? "embedding worker crashed");
      settle(false);
    };
    const init: WorkerRequest = { type: "init", model: options.model, modelsDir: options.modelsDir || undefined, cacheDir: options.cacheDir, dtype: options.dtype };
    this.worker.postMessage(init);
  }

  ready(): Promise<boolean> {
    return this.loaded;
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    if (this.status === "failed") return Promise.reject(new EmbedderUnavailable(`embedding model ${this.model} is not available`));
    if (texts.length === 0) return Promise.resolve([]);
    if (this.queue.length >= this.maxQueue) return Promise.reject(new EmbedderUnavailable("embedding queue is full"));
    return new Promise((resolve, reject) => {
      this.queue.push({ texts, resolve, reject });
      void this.loaded.then(() => this.pump());
    });
  }

  /**
   * Rejects queued and in-flight batches, asks the Worker to release its ONNX session, waits for it
   * (at most DISPOSE_TIMEOUT_MS), then terminates the Worker and waits for it to stop (same bound).
   * Terminating with a live session can abort the process at exit (embed-worker.ts, dispose()).
   * Calling it again returns the same promise. Never rejects.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.fail("embedder closed");
    const within = (done: Promise<void>) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      return Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, DISPOSE_TIMEOUT_MS)))]).finally(() => clearTimeout(timer));
    };
    if (!this.crashed) {
      const disposed = new Promise<void>((resolve) => (this.disposed = resolve));
      this.worker.postMessage({ type: "dispose" } satisfies WorkerRequest);
      await within(disposed);
    }
    const stopped = new Promise<void>((resolve) => this.worker.addEventListener("close", () => resolve(), { once: true }));
    this.worker.terminate();
    await within(stopped);
  }

  private pump(): void {
    if (this.inFlight || this.status !== "ready") return;
    const job = this.queue.shift();
    if (!job) return;
    this.inFlight = { ...job, id: this.nextId++ };
    const request: WorkerRequest = { type: "embed", id: this.inFlight.id, texts: job.texts };
    this.worker.postMessage(request);
  }

  private answer(msg: Extract<WorkerReply, { type: "vectors" | "error" }>): void {
    const job = this.inFlight;
    if (!job || job.id !== msg.id) return;
    this.inFlight = undefined;
    if (msg.type === "error") job.reject(new Error(msg.message));
    else job.resolve(job.texts.map((_, i) => msg.data.subarray(i * msg.dim, (i + 1) * msg.dim)));
    this.pump();
  }

  private fail(message: string): void {
    if (this.status !== "failed") this.failure = message;
    this.status = "failed";
    const err = new EmbedderUnavailable(`embedding model ${this.model} is not available: ${message}`);
    for (const job of this.queue.splice(0)) job.reject(err);
    this.inFlight?.reject(err);
    this.inFlight = undefined;
  }
}
