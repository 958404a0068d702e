/**
 * Ollama model metadata (/api/tags, /api/ps, /api/show) for models the proxy serves but did not
 * load itself: what can be read from the name (family, parameter size and quantization from tags
 * like `qwen3:8b-q4_K_M`), a stable digest, and a declared context length. Pure functions.
 */
import { createHash } from "node:crypto";
import type { OllamaModelDetails, OllamaModelEntry, OllamaShowResponse } from "./ollama.ts";

/** Context length reported by /api/show when the upstream does not say (clients use it as a hint only). */
export const DEFAULT_CONTEXT_LENGTH = 32768;

/** "org/qwen3:8b-q4_K_M" -> { base: "qwen3", tag: "8b-q4_K_M" }. */
function splitName(name: string): { base: string; tag: string } {
  const short = name.slice(name.lastIndexOf("/") + 1);
  const colon = short.indexOf(":");
  return colon < 0 ? { base: short, tag: "" } : { base: short.slice(0, colon), tag: short.slice(colon + 1) };
}

/** Details read from the name: family = the base name up to its first `-`, `_` or `.`. */
export function modelDetails(name: string): OllamaModelDetails {
  const { base, tag } = splitName(name);
  const family = base.split(/[-_.]/)[0] || base;
  const size = /(?:^|[-_])(\d+(?:\.\d+)?[bm])(?:$|[-_])/i.exec(tag) ?? /(?:^|[-_:])(\d+(?:\.\d+)?[bm])(?:$|[-_])/i.exec(base);
  const quant = /(?:^|[-_])((?:q\d\w*)|(?:fp16|bf16|f16|f32))$/i.exec(tag);
  return {
    parent_model: "",
    format: "",
    family,
    families: [family],
    parameter_size: size ? size[1]!.toUpperCase() : "",
    quantization_level: quant ? quant[1]!.toUpperCase() : "",
  };
}

/** A stable sha256 hex digest of the name (Ollama's is the manifest's; ours only has to be stable). */
export function modelDigest(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** An /api/tags entry: `name` and `model` are both the served name. */
export function modelEntry(name: string, modifiedAt: string): OllamaModelEntry {
  return { name, model: name, modified_at: modifiedAt, size: 0, digest: modelDigest(name), details: modelDetails(name) };
}

/** An /api/show reply: details, model_info with `<family>.context_length`, capabilities incl. "tools". */
export function showResponse(name: string, modifiedAt: string, contextLength = DEFAULT_CONTEXT_LENGTH): OllamaShowResponse {
  const details = modelDetails(name);
  return {
    license: "",
    modelfile: `# Served by llm-proxy\nFROM ${name}\n`,
    parameters: `num_ctx ${contextLength}`,
    template: "{{ .Prompt }}",
    details,
    model_info: { "general.architecture": details.family, "general.basename": splitName(name).base, [`${details.family}.context_length`]: contextLength },
    capabilities: ["completion", "tools"],
    modified_at: modifiedAt,
  };
}
