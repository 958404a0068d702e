/**
 * Ollama model metadata (/api/tags, /api/ps, /api/show) for models the proxy serves from a server that
 * is not Ollama: the facts that server reports (upstream/model-facts.ts: context window, parameter
 * count, quantization, capabilities), else what the name says (family, parameter size and
 * quantization from tags like `qwen3:8b-q4_K_M`), and a stable digest. A number nobody reports is left
 * out (no `<family>.context_length`, no `num_ctx`), a string is "unknown": nothing is invented.
 * Pure functions.
 */
import { createHash } from "node:crypto";
import type { ModelFacts } from "../upstream/model-facts.ts";
import type { OllamaModelDetails, OllamaModelEntry, OllamaShowResponse } from "./ollama.ts";

/** What /api/show says for a detail neither the upstream nor the name tells. */
export const UNKNOWN = "unknown";

/** "org/qwen3:8b-q4_K_M" -> { base: "qwen3", tag: "8b-q4_K_M" }. */
function splitName(name: string): { base: string; tag: string } {
  const short = name.slice(name.lastIndexOf("/") + 1);
  const colon = short.indexOf(":");
  return colon < 0 ? { base: short, tag: "" } : { base: short.slice(0, colon), tag: short.slice(colon + 1) };
}

/**
 * Details from the upstream's facts, else read from the name (family = the base name up to its first
 * `-`, `_` or `.`); an unknown size or quantization is "".
 */
export function modelDetails(name: string, facts: ModelFacts = {}): OllamaModelDetails {
  const { base, tag } = splitName(name);
  const family = base.split(/[-_.]/)[0] || base;
  const size = /(?:^|[-_])(\d+(?:\.\d+)?[bm])(?:$|[-_])/i.exec(tag) ?? /(?:^|[-_:])(\d+(?:\.\d+)?[bm])(?:$|[-_])/i.exec(base);
  const quant = /(?:^|[-_])((?:q\d\w*)|(?:fp16|bf16|f16|f32))$/i.exec(tag);
  const known = facts.family ?? family;
  return {
    parent_model: "",
    format: facts.format ?? "",
    family: known,
    families: [known],
    parameter_size: facts.parameter_size ?? (size ? size[1]!.toUpperCase() : ""),
    quantization_level: facts.quantization ?? (quant ? quant[1]!.toUpperCase() : ""),
  };
}

/** A stable sha256 hex digest of the name (Ollama's is the manifest's; ours only has to be stable). */
export function modelDigest(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** An /api/tags entry: `name` and `model` are both the served name; `size` is the weights' bytes when reported, else 0. */
export function modelEntry(name: string, modifiedAt: string, facts: ModelFacts = {}): OllamaModelEntry {
  return { name, model: name, modified_at: modifiedAt, size: facts.size_bytes ?? 0, digest: modelDigest(name), details: modelDetails(name, facts) };
}

/**
 * An /api/show reply. `model_info["<family>.context_length"]` and the `num_ctx` parameter are the
 * context window the upstream serves the model with (`facts.context_length`), left out when unknown;
 * parameter size and quantization are "unknown" when neither the upstream nor the name tells;
 * capabilities are the upstream's, else ["completion", "tools"] (the proxy passes tools on).
 */
export function showResponse(name: string, modifiedAt: string, facts: ModelFacts = {}): OllamaShowResponse {
  const details = modelDetails(name, facts);
  details.parameter_size ||= UNKNOWN;
  details.quantization_level ||= UNKNOWN;
  const info: Record<string, unknown> = { "general.architecture": details.family, "general.basename": splitName(name).base };
  if (facts.n_params !== undefined) info["general.parameter_count"] = facts.n_params;
  if (facts.context_length !== undefined) info[`${details.family}.context_length`] = facts.context_length;
  if (facts.n_vocab !== undefined) info[`${details.family}.vocab_size`] = facts.n_vocab;
  return {
    license: "",
    modelfile: `# Served by llm-proxy\nFROM ${name}\n`,
    parameters: facts.context_length !== undefined ? `num_ctx ${facts.context_length}` : "",
    template: "{{ .Prompt }}",
    details,
    model_info: info,
    capabilities: facts.capabilities ?? ["completion", "tools"],
    modified_at: modifiedAt,
  };
}
