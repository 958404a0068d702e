/**
 * Worker entrypoint: runs a transformers.js feature-extraction model off the event loop.
 *
 * Protocol (structured-clone messages):
 *   in  {type: "init", model, modelsDir?, cacheDir, dtype}  -> out {type: "ready", dim} | {type: "failed", message}
 *   in  {type: "embed", id, texts}                           -> out {type: "vectors", id, dim, data: Float32Array (texts × dim, mean-pooled, L2-normalised)}
 *                                                               | {type: "error", id, message}
 *   in  {type: "dispose"}                                    -> out {type: "disposed"} once the ONNX session is released
 * With `modelsDir`, the model is read from `<modelsDir>/<model>/` and remote download is off;
 * otherwise it is downloaded on first use into `cacheDir`.
 *
 * Memory (docs/benchmarks.md, "Footprint"): onnxruntime runs without its CPU arena and memory
 * patterns and on one thread, and after a large batch (or at most every RELEASE_INTERVAL_MS) the
 * Worker collects its JavaScript garbage and hands freed native memory back to the system
 * (glibc's malloc_trim). With defaults, the Worker grew by ~150 MiB embedding one tool list and
 * stayed there; so it stays within ~90 MiB of the model's own.
 */
import { dlopen, FFIType } from "bun:ffi";
import { env, pipeline, type FeatureExtractionPipeline } from "@huggingface/transformers";
import { embedInSubBatches, type ModelOutput } from "./length-buckets.ts";

declare const self: Worker;

export type WorkerRequest =
  | { type: "init"; model: string; modelsDir?: string; cacheDir: string; dtype: string }
  | { type: "embed"; id: number; texts: string[] }
  | { type: "dispose" };

export type WorkerReply =
  | { type: "ready"; dim: number }
  | { type: "failed"; message: string }
  | { type: "vectors"; id: number; dim: number; data: Float32Array }
  | { type: "error"; id: number; message: string }
  | { type: "disposed" };

/**
 * onnxruntime session options. The CPU arena and memory patterns keep the largest activations ever
 * seen (a 64-text batch padded to 128 tokens) for the life of the session; one intra-op thread is
 * enough for sentence-sized inputs and leaves the other cores to the proxy (and, on a Pi, to Home Assistant).
 */
const SESSION_OPTIONS = { enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" } as const;
/** Memory is released after a batch of at least this many texts (a tool list)... */
const RELEASE_AFTER_TEXTS = 16;
/** ...and otherwise at most this often: a full collection of the Worker's heap costs a few ms. */
const RELEASE_INTERVAL_MS = 2_000;

/** glibc's malloc_trim(0), or nothing where the C library has none (musl). */
const mallocTrim = (() => {
  try {
    const libc = dlopen("libc.so.6", { malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 } });
    return () => void libc.symbols.malloc_trim(0);
  } catch {
    return () => {};
  }
})();
let releasedAt = 0;

/** Collects the Worker's garbage and returns freed native pages to the system (see the module comment). */
function release(texts: number): void {
  const now = Date.now();
  if (texts < RELEASE_AFTER_TEXTS && now - releasedAt < RELEASE_INTERVAL_MS) return;
  releasedAt = now;
  Bun.gc(true);
  mallocTrim();
}

let extractor: FeatureExtractionPipeline | undefined;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => self.postMessage(reply, transfer);

async function init(msg: Extract<WorkerRequest, { type: "init" }>): Promise<void> {
  try {
    env.cacheDir = msg.cacheDir;
    if (msg.modelsDir) {
      env.allowRemoteModels = false;
      env.localModelPath = msg.modelsDir.endsWith("/") ? msg.modelsDir : `${msg.modelsDir}/`;
    }
    extractor = (await pipeline("feature-extraction", msg.model, { dtype: msg.dtype as "q8", session_options: SESSION_OPTIONS })) as FeatureExtractionPipeline;
    const probe = await extractor(["probe"], { pooling: "mean", normalize: true });
    post({ type: "ready", dim: probe.dims.at(-1)! });
    release(Infinity);
  } catch (err) {
    post({ type: "failed", message: (err as Error)?.message ?? String(err) });
  }
}

async function embed(msg: Extract<WorkerRequest, { type: "embed" }>): Promise<void> {
  try {
    if (!extractor) throw new Error("model not loaded");
    const model = extractor;
    const { dim, data } = await embedInSubBatches(msg.texts, model.tokenizer.model_max_length, async (batch) => (await model(batch, { pooling: "mean", normalize: true })) as ModelOutput);
    post({ type: "vectors", id: msg.id, dim, data }, [data.buffer as ArrayBuffer]);
    release(msg.texts.length);
  } catch (err) {
    post({ type: "error", id: msg.id, message: (err as Error)?.message ?? String(err) });
  }
}

/**
 * Releases the ONNX session (the pipeline's dispose()), waiting for a load or a batch still running.
 * Terminating the Worker with a live native session lets onnxruntime's destructors run during
 * process exit, where a Napi::Error thrown from them aborts Bun (exit 134); so close() asks for this first.
 */
async function dispose(): Promise<void> {
  try {
    await loading;
    await running;
    await extractor?.dispose();
  } catch {
    // Nothing more to release: the session failed to load or is gone.
  }
  extractor = undefined;
  post({ type: "disposed" });
}

/** The model load and the last batch, so that dispose() waits for them. */
let loading: Promise<void> = Promise.resolve();
let running: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const msg = event.data;
  if (msg.type === "init") loading = init(msg);
  else if (msg.type === "embed") running = running.then(() => embed(msg));
  else if (msg.type === "dispose") void dispose();
};
