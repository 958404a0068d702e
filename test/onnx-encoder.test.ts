/**
 * OnnxEncoder (src/selection/onnx-encoder.ts) against transformers.js's feature-extraction pipeline
 * with mean pooling and normalisation, on the offline USE-lite model: the same vectors for short and
 * long texts (truncated to model_max_length), bit for bit, batches padded to their longest text, and texts of
 * other scripts; clear errors for an unknown dtype and a missing model file.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { env, pipeline, type FeatureExtractionPipeline } from "@huggingface/transformers";
import { modelFile, OnnxEncoder } from "../src/selection/onnx-encoder.ts";

const MODELS_DIR = join(import.meta.dir, "../../shared/models");
const MODEL = "universal-sentence-encoder-lite-en";
const OPTIONS = { enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1 } as const;

let encoder: OnnxEncoder;
let reference: FeatureExtractionPipeline;

beforeAll(async () => {
  env.allowRemoteModels = false;
  env.localModelPath = `${MODELS_DIR}/`;
  reference = (await pipeline("feature-extraction", MODEL, { dtype: "q8", session_options: OPTIONS })) as FeatureExtractionPipeline;
  encoder = await OnnxEncoder.load(join(MODELS_DIR, MODEL), "q8", OPTIONS);
});
afterAll(async () => {
  await encoder?.release();
  await reference?.dispose();
});

test("the bit-identical vectors to transformers.js's pipeline, batch padded and long texts truncated", async () => {
  const texts = [
    "turn on the kitchen lights",
    "a",
    `set the thermostat ${"and the blinds ".repeat(100)}`,
    "Schalte das Licht im Wohnzimmer aus",
    "今日の天気は？ 🙂",
    "HassTurnOn: Turns on/opens/presses a device or entity",
  ];
  const want = await reference(texts, { pooling: "mean", normalize: true });
  const got = await encoder.embed(texts);
  expect(got.dim).toBe(want.dims.at(-1)!);
  expect(got.data.length).toBe(texts.length * got.dim);
  const ref = want.data as Float32Array;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - got.data[i]!));
  expect(maxDiff).toBe(0);
  // One text alone gets nearly the vector it got inside the padded batch (the int8 graph's sums move by up to ~1e-3 with padding).
  const alone = await encoder.embed([texts[1]!]);
  let cosine = 0;
  for (let k = 0; k < got.dim; k++) cosine += alone.data[k]! * got.data[got.dim + k]!;
  expect(cosine).toBeGreaterThan(0.999);
  // Each row is unit length.
  const norm = Math.hypot(...got.data.subarray(0, got.dim));
  expect(norm).toBeCloseTo(1, 5);
}, 60_000);

test("an unknown dtype and a missing model file are clear errors; a released encoder refuses", async () => {
  expect(() => modelFile("/m", "q3")).toThrow(/unknown dtype "q3"/);
  expect(modelFile("/m", "fp32")).toBe("/m/onnx/model.onnx");
  await expect(OnnxEncoder.load(join(MODELS_DIR, MODEL), "fp16", OPTIONS)).rejects.toThrow(/model_fp16\.onnx/);
  await expect(OnnxEncoder.load(join(MODELS_DIR, "no-such-model"), "q8", OPTIONS)).rejects.toThrow(/tokenizer\.json/);
  const other = await OnnxEncoder.load(join(MODELS_DIR, MODEL), "q8", OPTIONS);
  await other.release();
  await expect(other.embed(["x"])).rejects.toThrow(/released/);
});
