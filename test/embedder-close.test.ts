/**
 * WorkerEmbedder.close() with the real offline model (USE-lite, onnxruntime in the Worker): the
 * Worker disposes its ONNX session and says so before it is terminated (an exit with a live session
 * can abort the process: executable.test.ts, SIGTERM), queued batches are rejected, and closing
 * twice is one close.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbedderUnavailable, WorkerEmbedder } from "../src/selection/embedder.ts";

const MODELS_DIR = join(import.meta.dir, "../../shared/models");

test("close() disposes the ONNX session in the Worker, then rejects what is queued and stops it", async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "llm-proxy-embedder-close-"));
  try {
    const embedder = new WorkerEmbedder({ model: "universal-sentence-encoder-lite-en", modelsDir: MODELS_DIR, cacheDir, dtype: "q8" });
    expect(await embedder.ready()).toBe(true);
    expect((await embedder.embed(["turn on the lights"]))[0]!.length).toBeGreaterThan(0);
    const replies: string[] = [];
    (embedder as unknown as { worker: Worker }).worker.addEventListener("message", (e) => replies.push((e as MessageEvent<{ type: string }>).data.type));
    const stopped = new Promise<void>((resolve) => (embedder as unknown as { worker: Worker }).worker.addEventListener("close", () => resolve()));
    const queued = embedder.embed(["a batch still queued when close() is called"]).then(
      () => "resolved",
      (err: unknown) => err,
    );
    const closing = embedder.close();
    expect(embedder.close()).toBe(closing);
    await closing;
    await stopped;
    expect(replies).toContain("disposed");
    expect(await queued).toBeInstanceOf(EmbedderUnavailable);
    expect(embedder.status).toBe("failed");
    await expect(embedder.embed(["after close"])).rejects.toBeInstanceOf(EmbedderUnavailable);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}, 60_000);
