/**
 * The embedding Worker without `models_dir`: a model already in the download cache
 * (`<cacheDir>/<model>/`, the layout transformers.js's file cache writes) is loaded from there,
 * nothing is downloaded, and its vectors are those of the same model read from `models_dir`.
 */
import { expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WorkerEmbedder } from "../src/selection/embedder.ts";

const MODELS_DIR = join(import.meta.dir, "../../shared/models");
const MODEL = "universal-sentence-encoder-lite-en";

test("a model in the cache directory loads from there, with the vectors of models_dir's copy", async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "llm-proxy-embed-cache-"));
  cpSync(join(MODELS_DIR, MODEL), join(cacheDir, MODEL), { recursive: true });
  // No network is needed: a download attempt would fail here and the embedder would report "failed".
  const cached = new WorkerEmbedder({ model: MODEL, cacheDir, dtype: "q8" });
  const local = new WorkerEmbedder({ model: MODEL, modelsDir: MODELS_DIR, cacheDir, dtype: "q8" });
  try {
    expect(await cached.ready()).toBe(true);
    expect(await local.ready()).toBe(true);
    const texts = ["turn on the kitchen lights", "what is the weather tomorrow"];
    const [a, b] = await Promise.all([cached.embed(texts), local.embed(texts)]);
    expect(a.map((v) => [...v])).toEqual(b.map((v) => [...v]));
  } finally {
    await Promise.all([cached.close(), local.close()]);
    rmSync(cacheDir, { recursive: true, force: true });
  }
}, 60_000);
