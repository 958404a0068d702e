/**
 * A sentence-embedding model run with onnxruntime-node and the model's own tokenizer
 * (@huggingface/tokenizers), as transformers.js's `feature-extraction` pipeline runs it with
 * `{pooling: "mean", normalize: true}`: tokenise with the model's special tokens, truncate to
 * `model_max_length`, pad to the longest text of the batch (on `padding_side`, with the pad token),
 * run the ONNX graph with `input_ids`, `attention_mask` (and zero `token_type_ids` when the graph
 * takes them), mean-pool its token output (`last_hidden_state`, else `logits`, else
 * `token_embeddings`, transformers.js's order) over the attention mask, L2-normalise.
 *
 * Why not transformers.js itself: importing it costs ~30 MiB of resident memory in the embedding
 * Worker (its 1.3 MB bundle of hundreds of model classes, processors and the onnxruntime-web
 * glue) for the one pipeline used here; this module loads only the runtime and the tokenizer
 * (docs/benchmarks.md, "Footprint": "The embedding Worker without transformers.js").
 *
 * Model folder layout (the Hugging Face Hub's, as transformers.js reads and caches it):
 * `<dir>/tokenizer.json`, `<dir>/tokenizer_config.json`, `<dir>/onnx/model<suffix>.onnx` where the
 * suffix comes from the dtype (transformers.js DEFAULT_DTYPE_SUFFIX_MAPPING).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";

/** ONNX file name suffix per dtype, as transformers.js names them (utils/dtypes.js). */
const DTYPE_SUFFIX: Record<string, string> = {
  fp32: "",
  fp16: "_fp16",
  int8: "_int8",
  uint8: "_uint8",
  q8: "_quantized",
  q4: "_q4",
  q4f16: "_q4f16",
  bnb4: "_bnb4",
};

/** The ONNX file of a dtype inside a model folder. @throws for a dtype transformers.js does not name */
export function modelFile(dir: string, dtype: string): string {
  const suffix = DTYPE_SUFFIX[dtype];
  if (suffix === undefined) throw new Error(`unknown dtype "${dtype}"; expected one of ${Object.keys(DTYPE_SUFFIX).join(", ")}`);
  return join(dir, "onnx", `model${suffix}.onnx`);
}

/** Per-token outputs a feature-extraction graph may name, in the order transformers.js looks for them. */
const TOKEN_OUTPUTS = ["last_hidden_state", "logits", "token_embeddings"];

/** The token string of a tokenizer_config.json entry (a string or an AddedToken object). */
function token(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") return (value as { content: string }).content;
  return undefined;
}

export class OnnxEncoder {
  private constructor(
    private session: ort.InferenceSession | undefined,
    private readonly tokenizer: Tokenizer,
    /** The model's longest input, tokens (tokenizer_config.json's model_max_length; Infinity when it names none). */
    readonly maxTokens: number,
    private readonly padId: number,
    private readonly padLeft: boolean,
    private readonly typeIds: boolean,
    private readonly output: string,
  ) {}

  /**
   * Loads the tokenizer and the ONNX session from a model folder (see the module comment).
   * @throws when a file is missing or unreadable, or onnxruntime rejects the model
   */
  static async load(dir: string, dtype: string, options: ort.InferenceSession.SessionOptions): Promise<OnnxEncoder> {
    const tokenizerJson = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    const tokenizer = new Tokenizer(tokenizerJson, config);
    // As transformers.js: the pad token, else the end-of-sequence token; a tokenizer without either pads with 0 (masked out anyway).
    const pad = token(config.pad_token) ?? token(config.eos_token);
    const padId = (pad !== undefined ? tokenizer.token_to_id(pad) : undefined) ?? 0;
    const maxLength = typeof config.model_max_length === "number" ? config.model_max_length : Infinity;
    const session = await ort.InferenceSession.create(modelFile(dir, dtype), options);
    const output = TOKEN_OUTPUTS.find((name) => session.outputNames.includes(name));
    if (!output) {
      await session.release();
      throw new Error(`model outputs ${session.outputNames.join(", ")}; a feature-extraction model returns one of ${TOKEN_OUTPUTS.join(", ")}`);
    }
    return new OnnxEncoder(session, tokenizer, maxLength, padId, config.padding_side === "left", session.inputNames.includes("token_type_ids"), output);
  }

  /**
   * Embeds one batch.
   * @returns texts × dim floats, row-major, each row L2-normalised; and dim
   * @throws when the session was released or inference fails
   */
  async embed(texts: string[]): Promise<{ data: Float32Array; dim: number }> {
    if (!this.session) throw new Error("model released");
    const ids = texts.map((t) => {
      const { ids } = this.tokenizer.encode(t, { add_special_tokens: true });
      return ids.length > this.maxTokens ? ids.slice(0, this.maxTokens) : ids;
    });
    const batch = texts.length;
    const seq = Math.max(1, ...ids.map((i) => i.length));
    const inputIds = new BigInt64Array(batch * seq).fill(BigInt(this.padId));
    const mask = new BigInt64Array(batch * seq);
    ids.forEach((row, b) => {
      const start = b * seq + (this.padLeft ? seq - row.length : 0);
      row.forEach((id, j) => {
        inputIds[start + j] = BigInt(id);
        mask[start + j] = 1n;
      });
    });
    const dims = [batch, seq];
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor("int64", inputIds, dims), attention_mask: new ort.Tensor("int64", mask, dims) };
    if (this.typeIds) feeds.token_type_ids = new ort.Tensor("int64", new BigInt64Array(batch * seq), dims);
    const out = await this.session.run(feeds, [this.output]);
    const hidden = out[this.output]!;
    const dim = hidden.dims[2]!;
    const h = hidden.data as Float32Array;
    const data = new Float32Array(batch * dim);
    // Sums in doubles, as transformers.js's mean_pooling does.
    const sum = new Float64Array(dim);
    for (let b = 0; b < batch; b++) {
      sum.fill(0);
      let count = 0;
      for (let j = 0; j < seq; j++) {
        if (mask[b * seq + j] === 0n) continue;
        count++;
        const at = (b * seq + j) * dim;
        for (let k = 0; k < dim; k++) sum[k]! += h[at + k]!;
      }
      const row = data.subarray(b * dim, (b + 1) * dim);
      // The norm in float32 steps, as transformers.js's Tensor.normalize() computes it: bit-identical vectors.
      let norm = 0;
      for (let k = 0; k < dim; k++) {
        row[k] = sum[k]! / count;
        norm = Math.fround(norm + row[k]! ** 2);
      }
      norm = Math.fround(norm ** 0.5);
      if (norm > 0) for (let k = 0; k < dim; k++) row[k]! /= norm;
    }
    for (const t of Object.values(out)) t.dispose();
    return { data, dim };
  }

  /** Releases the ONNX session; embed() fails afterwards. */
  async release(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.release();
  }
}
