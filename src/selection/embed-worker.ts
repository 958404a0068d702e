/**
 * Worker entrypoint: runs a transformers.js feature-extraction model off the event loop.
 *
 * Protocol (structured-clone messages):
 *   in  {type: "init", model, modelsDir?, cacheDir, dtype}  -> out {type: "ready", dim} | {type: "failed", message}
 *   in  {type: "embed", id, texts}                           -> out {type: "vectors", id, dim, data: Float32Array (texts × dim, mean-pooled, L2-normalised)}
 *                                                               | {type: "error", id, message}
 * With `modelsDir`, the model is read from `<modelsDir>/<model>/` and remote download is off;
 * otherwise it is downloaded on first use into `cacheDir`.
 */
import { env, pipeline, type FeatureExtractionPipeline } from "@huggingface/transformers";

declare const self: Worker;

export type WorkerRequest =
  | { type: "init"; model: string; modelsDir?: string; cacheDir: string; dtype: string }
  | { type: "embed"; id: number; texts: string[] };

export type WorkerReply =
  | { type: "ready"; dim: number }
  | { type: "failed"; message: string }
  | { type: "vectors"; id: number; dim: number; data: Float32Array }
  | { type: "error"; id: number; message: string };

const SUB_BATCH = 64;
let extractor: FeatureExtractionPipeline | undefined;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => self.postMessage(reply, transfer);

async function init(msg: Extract<WorkerRequest, { type: "init" }>): Promise<void> {
  try {
    env.cacheDir = msg.cacheDir;
    if (msg.modelsDir) {
      env.allowRemoteModels = false;
      env.localModelPath = msg.modelsDir.endsWith("/") ? msg.modelsDir : `${msg.modelsDir}/`;
    }
    extractor = (await pipeline("feature-extraction", msg.model, { dtype: msg.dtype as "q8" })) as FeatureExtractionPipeline;
    const probe = await extractor(["probe"], { pooling: "mean", normalize: true });
    post({ type: "ready", dim: probe.dims.at(-1)! });
  } catch (err) {
    post({ type: "failed", message: (err as Error)?.message ?? String(err) });
  }
}

async function embed(msg: Extract<WorkerRequest, { type: "embed" }>): Promise<void> {
  try {
    if (!extractor) throw new Error("model not loaded");
    // Sub-batches bound the padded input tensor when a long tool list arrives at once.
    const parts: Float32Array[] = [];
    let dim = 0;
    for (let i = 0; i < msg.texts.length; i += SUB_BATCH) {
      const out = await extractor(msg.texts.slice(i, i + SUB_BATCH), { pooling: "mean", normalize: true });
      dim = out.dims.at(-1)!;
      parts.push(out.data as Float32Array);
    }
    const data = new Float32Array(msg.texts.length * dim);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    post({ type: "vectors", id: msg.id, dim, data }, [data.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: "error", id: msg.id, message: (err as Error)?.message ?? String(err) });
  }
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const msg = event.data;
  if (msg.type === "init") void init(msg);
  else if (msg.type === "embed") void embed(msg);
};
