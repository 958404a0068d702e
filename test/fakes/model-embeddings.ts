/**
 * Embeddings computed by the offline model (../shared/models/universal-sentence-encoder-lite-en) in
 * the test process, for fake upstreams that serve /v1/embeddings or /api/embed as a real server
 * with that model would: same vectors as the proxy's own embedding Worker computes.
 * Also runnable as a server for benchmarks: `bun test/fakes/model-embeddings.ts [port]` prints
 * "listening on http://127.0.0.1:PORT" and answers POST /v1/embeddings (OpenAI) and /api/embed (Ollama).
 */
import { join } from "node:path";
import { env, pipeline, type FeatureExtractionPipeline } from "@huggingface/transformers";
import { embedInSubBatches, type ModelOutput } from "../../src/selection/length-buckets.ts";

export const MODELS_DIR = join(import.meta.dir, "..", "..", "..", "shared", "models");
export const MODEL = "universal-sentence-encoder-lite-en";

let extractor: Promise<FeatureExtractionPipeline> | undefined;

/** Mean-pooled, L2-normalised vectors of `texts` (q8 weights, as the proxy's default dtype). */
export async function modelEmbeddings(texts: string[]): Promise<number[][]> {
  extractor ??= (async () => {
    env.allowRemoteModels = false;
    env.localModelPath = `${MODELS_DIR}/`;
    return (await pipeline("feature-extraction", MODEL, { dtype: "q8" })) as FeatureExtractionPipeline;
  })();
  const model = await extractor;
  // Called the way the proxy's Worker calls it (length-buckets.ts: the same sub-batches, so the same padding): the same vectors to the last digit.
  const { dim, data } = await embedInSubBatches(texts, model.tokenizer.model_max_length, async (batch) => (await model(batch, { pooling: "mean", normalize: true })) as ModelOutput);
  return texts.map((_, i) => Array.from(data.subarray(i * dim, (i + 1) * dim)));
}

if (import.meta.main) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: Number(process.argv[2] ?? 0),
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "POST" || (path !== "/v1/embeddings" && path !== "/api/embed")) return new Response("not found", { status: 404 });
      const body = (await req.json()) as { model: string; input: string | string[] };
      const vectors = await modelEmbeddings(Array.isArray(body.input) ? body.input : [body.input]);
      if (path === "/api/embed") return Response.json({ model: body.model, embeddings: vectors });
      return Response.json({ object: "list", model: body.model, data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })), usage: { prompt_tokens: 0, total_tokens: 0 } });
    },
  });
  console.log(`listening on http://127.0.0.1:${server.port}`);
}
