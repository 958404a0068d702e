/**
 * Worker entrypoint: runs a sentence-embedding model off the event loop (onnx-encoder.ts:
 * onnxruntime-node and the model's tokenizer, as transformers.js's feature-extraction pipeline).
 *
 * Protocol (structured-clone messages):
 *   in  {type: "init", model, modelsDir?, cacheDir, dtype}  -> out {type: "ready", dim} | {type: "failed", message}
 *   in  {type: "embed", id, texts}                           -> out {type: "vectors", id, dim, data: Float32Array (texts × dim, mean-pooled, L2-normalised)}
 *                                                               | {type: "error", id, message}
 *   in  {type: "dispose"}                                    -> out {type: "disposed"} once the ONNX session is released
 * With `modelsDir`, the model is read from `<modelsDir>/<model>/` and remote download is off;
 * otherwise it is read from `<cacheDir>/<model>/`, where transformers.js downloads it on first use
 * (the only time transformers.js is imported: its Hub client, cache layout and dtype file names).
 *
 * Memory (docs/benchmarks.md, "Footprint"): onnxruntime runs without its CPU arena and memory
 * patterns and on one thread, and after a large batch (or at most every RELEASE_INTERVAL_MS) the
 * Worker collects its JavaScript garbage and hands freed native memory back to the system
 * (glibc's malloc_trim). With defaults, the Worker grew by ~150 MiB embedding one tool list and
 * stayed there; so it stays within ~90 MiB of the model's own.
 */
import { dlopen, FFIType } from "bun:ffi";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { embedInSubBatches } from "./length-buckets.ts";
import { modelFile, OnnxEncoder } from "./onnx-encoder.ts";

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

let encoder: OnnxEncoder | undefined;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => self.postMessage(reply, transfer);

/**
 * The model's folder: `<modelsDir>/<model>`, or `<cacheDir>/<model>` once transformers.js has
 * downloaded the model there (its file cache keeps the Hub's layout under the model id).
 * @throws when the model is not in modelsDir, or cannot be downloaded
 */
async function modelDir(msg: Extract<WorkerRequest, { type: "init" }>): Promise<string> {
  if (msg.modelsDir) return join(msg.modelsDir, msg.model);
  const dir = join(msg.cacheDir, msg.model);
  if (existsSync(modelFile(dir, msg.dtype))) return dir;
  const { env, pipeline } = await import("@huggingface/transformers");
  env.cacheDir = msg.cacheDir;
  const downloaded = await pipeline("feature-extraction", msg.model, { dtype: msg.dtype as "q8", session_options: SESSION_OPTIONS });
  await downloaded.dispose();
  return dir;
}

async function init(msg: Extract<WorkerRequest, { type: "init" }>): Promise<void> {
  try {
    encoder = await OnnxEncoder.load(await modelDir(msg), msg.dtype, SESSION_OPTIONS);
    const probe = await encoder.embed(["probe"]);
    post({ type: "ready", dim: probe.dim });
    release(Infinity);
  } catch (err) {
    post({ type: "failed", message: (err as Error)?.message ?? String(err) });
  }
}

async function embed(msg: Extract<WorkerRequest, { type: "embed" }>): Promise<void> {
  try {
    if (!encoder) throw new Error("model not loaded");
    const model = encoder;
    const { dim, data } = await embedInSubBatches(msg.texts, model.maxTokens, async (batch) => {
      const out = await model.embed(batch);
      return { dims: [batch.length, out.dim], data: out.data };
    });
    post({ type: "vectors", id: msg.id, dim, data }, [data.buffer as ArrayBuffer]);
    release(msg.texts.length);
  } catch (err) {
    post({ type: "error", id: msg.id, message: (err as Error)?.message ?? String(err) });
  }
}

/**
 * Releases the ONNX session, waiting for a load or a batch still running.
 * Terminating the Worker with a live native session lets onnxruntime's destructors run during
 * process exit, where a Napi::Error thrown from them aborts Bun (exit 134); so close() asks for this first.
 */
async function dispose(): Promise<void> {
  try {
    await loading;
    await running;
    await encoder?.release();
  } catch {
    // Nothing more to release: the session failed to load or is gone.
  }
  encoder = undefined;
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
