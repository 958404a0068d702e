/**
 * What an upstream itself reports about a model: context window, training context, parameter count,
 * quantization, and for llama.cpp its build and number of slots. Fetched once per upstream and model,
 * cached for the upstream's model-list TTL (`models.list_cache_ttl_ms`), the in-flight fetch shared by
 * every caller. A fact the upstream does not report is left undefined: nothing is guessed.
 *
 * Sources, per upstream `type`:
 * - `openai`: the model's `/v1/models` entry (llama.cpp `meta.n_ctx`, `n_ctx_train`, `n_params`,
 *   `n_vocab`, `size`, `ftype`; vLLM `max_model_len`; OpenRouter `context_length`), and the server's
 *   `GET /props` beside `/v1` (llama.cpp tools/server/README.md: `default_generation_settings.n_ctx`,
 *   `total_slots`, `build_info`, `model_ftype`, `chat_template_caps`, `modalities`). A server without
 *   `/props` (OpenAI, vLLM) just gives fewer facts.
 * - `ollama`: `POST /api/show` (Ollama docs/api.md): `details`, `model_info["<arch>.context_length"]`,
 *   `general.parameter_count`, the `num_ctx` line of `parameters`, `capabilities`.
 */
import type { UpstreamConfig } from "../config/schema.ts";
import type { OllamaShowResponse } from "../protocol/ollama.ts";
import type { CallOptions } from "./backend.ts";
import { sendUpstream } from "./http.ts";
import type { OllamaBackend } from "./ollama.ts";
import type { UpstreamState } from "./registry.ts";

/** Facts an upstream reports about one model. Token counts are tokens, sizes bytes; undefined = not reported. */
export interface ModelFacts {
  /** The kind of server, when it identifies itself (`/props` build_info: llama.cpp; `/api/show`: Ollama). */
  server?: "llama.cpp" | "ollama";
  /** llama.cpp's build, e.g. "b10309-82bb485". */
  build_info?: string;
  /**
   * Tokens one request may use (prompt + reply): llama.cpp's per-slot `n_ctx` (else the model's
   * `meta.n_ctx`), vLLM's `max_model_len`, OpenRouter's `context_length`, or an Ollama model's
   * `num_ctx` parameter. An Ollama model without one runs with the server's default, which it does not
   * report: undefined.
   */
  context_length?: number;
  /** Context the model was trained with, tokens (llama.cpp `n_ctx_train`, Ollama `<arch>.context_length`). */
  n_ctx_train?: number;
  /** Parameter count. */
  n_params?: number;
  /** Parameter count as Ollama writes it ("8B", "494.03M"). */
  parameter_size?: string;
  /** Quantization as Ollama names it ("Q4_K_M", "F16", "F32"). */
  quantization?: string;
  /** Model architecture family ("llama", "qwen2"), when reported. */
  family?: string;
  /** File format ("gguf"), when reported. */
  format?: string;
  n_vocab?: number;
  /** Size of the model's weights, bytes. */
  size_bytes?: number;
  /** llama.cpp: requests it serves in parallel (`total_slots`). */
  total_slots?: number;
  /** Ollama capability names ("completion", "tools", "vision", "thinking", ...), when reported. */
  capabilities?: string[];
  /** The chat template the server applies, when reported. */
  chat_template?: string;
}

/** How long a failed fetch (the upstream did not answer) is remembered: a server coming back is noticed within seconds, one that is down is asked at most this often. */
const FAILURE_RETRY_MS = 5_000;
/** Facts are small GETs: never worth a long wait or a retry. */
const FACTS_TIMEOUT_MS = 3_000;

type Fetcher = (upstream: UpstreamState, model: string, call: CallOptions) => Promise<ModelFacts>;

interface CacheEntry {
  facts?: ModelFacts;
  /** Date.now() after which the facts are fetched again. */
  expires: number;
  pending?: Promise<ModelFacts>;
}

const caches = new WeakMap<UpstreamState, Map<string, CacheEntry>>();

/**
 * The facts `upstream` reports about `model` (the upstream's own model name). Cached per upstream and
 * model for the upstream's model-list TTL; concurrent callers share one fetch, which carries the
 * first caller's credentials but not its disconnect signal. Never throws: an upstream that cannot be
 * asked gives the facts it gave last time, or none.
 */
export async function getModelFacts(upstream: UpstreamState, model: string, call: CallOptions = {}): Promise<ModelFacts> {
  let cache = caches.get(upstream);
  if (!cache) caches.set(upstream, (cache = new Map()));
  let entry = cache.get(model);
  if (!entry) cache.set(model, (entry = { expires: 0 }));
  if (entry.facts && Date.now() < entry.expires) return entry.facts;
  const current = entry;
  current.pending ??= FETCHERS[upstream.config.type](upstream, model, { clientAuthorization: call.clientAuthorization })
    .then((facts) => {
      current.expires = Date.now() + upstream.ttlMs;
      return (current.facts = facts);
    })
    .catch(() => {
      current.expires = Date.now() + Math.min(upstream.ttlMs, FAILURE_RETRY_MS);
      return (current.facts ??= {});
    })
    .finally(() => (current.pending = undefined));
  return current.pending;
}

/** Whether the facts say the upstream is llama.cpp's llama-server. */
export function isLlamaCpp(facts: ModelFacts): boolean {
  return facts.server === "llama.cpp";
}

/** The upstream with short, unretried calls, for metadata. */
function metadataConfig(config: UpstreamConfig): UpstreamConfig {
  return { ...config, max_retries: 0, timeout_ms: Math.min(config.timeout_ms, FACTS_TIMEOUT_MS) };
}

/** The server's root URL: `base_url` without a trailing `/v1` (where llama.cpp serves /props, /tokenize, ...). */
export function serverRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/** `GET <root>/props` as JSON; undefined when the server answers anything but JSON 200. @throws when it does not answer */
async function fetchProps(config: UpstreamConfig, call: CallOptions): Promise<Record<string, unknown> | undefined> {
  const { response } = await sendUpstream({ ...metadataConfig(config), base_url: serverRoot(config.base_url) }, { ...call, path: "/props", method: "GET" });
  if (!response.ok) {
    await response.body?.cancel();
    return undefined;
  }
  return (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
}

const FETCHERS: Record<UpstreamConfig["type"], Fetcher> = {
  async openai(upstream, model, call) {
    const [models, props] = await Promise.all([upstream.modelEntries(call), fetchProps(upstream.config, call)]);
    const entry = models?.find((m) => m.id === model)?.entry;
    // /props speaks for the server's own context per slot: it wins over the model entry's n_ctx.
    return merge(entry ? factsFromModelEntry(entry) : {}, props ? factsFromProps(props) : {});
  },
  async ollama(upstream, model, call) {
    const backend = upstream.backend as OllamaBackend;
    return factsFromOllamaShow(await backend.show(model, call));
  },
};

/** `b`'s defined facts over `a`'s. */
function merge(a: ModelFacts, b: ModelFacts): ModelFacts {
  const out: ModelFacts = { ...a };
  for (const [k, v] of Object.entries(b)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.round(v) : undefined);
const text = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

/** Fields of an OpenAI-style /v1/models entry that give the context window, by server (first found wins). */
const ENTRY_CONTEXT_FIELDS: string[][] = [
  ["meta", "n_ctx"], // llama.cpp
  ["max_model_len"], // vLLM
  ["context_length"], // OpenRouter, LiteLLM
  ["top_provider", "context_length"], // OpenRouter
];

function at(obj: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = obj;
  for (const key of path) v = isObject(v) ? v[key] : undefined;
  return v;
}

/** Facts in one OpenAI-style `/v1/models` entry (llama.cpp `meta`, vLLM, OpenRouter). Pure. */
export function factsFromModelEntry(entry: Record<string, unknown>): ModelFacts {
  const meta = isObject(entry.meta) ? entry.meta : {};
  const n_params = count(meta.n_params);
  return {
    context_length: ENTRY_CONTEXT_FIELDS.map((p) => count(at(entry, p))).find((v) => v !== undefined),
    n_ctx_train: count(meta.n_ctx_train),
    n_params,
    parameter_size: n_params !== undefined ? humanNumber(n_params) : undefined,
    quantization: quantizationName(text(meta.ftype)),
    n_vocab: count(meta.n_vocab),
    size_bytes: count(meta.size),
  };
}

/** Facts in llama.cpp's `GET /props`. Pure. */
export function factsFromProps(props: Record<string, unknown>): ModelFacts {
  const settings = isObject(props.default_generation_settings) ? props.default_generation_settings : {};
  const build = text(props.build_info);
  const caps = isObject(props.chat_template_caps) ? props.chat_template_caps : undefined;
  const modalities = isObject(props.modalities) ? props.modalities : undefined;
  let capabilities: string[] | undefined;
  if (caps || modalities) {
    capabilities = ["completion"];
    if (caps?.supports_tools === true || caps?.supports_tool_calls === true) capabilities.push("tools");
    if (modalities?.vision === true) capabilities.push("vision");
  }
  return {
    // build_info is llama.cpp's own field (its server README); other servers have no /props.
    server: build !== undefined ? "llama.cpp" : undefined,
    build_info: build,
    context_length: count(settings.n_ctx),
    total_slots: count(props.total_slots),
    quantization: quantizationName(text(props.model_ftype)),
    capabilities,
    chat_template: text(props.chat_template),
  };
}

/** Facts in an Ollama `/api/show` reply. Pure. */
export function factsFromOllamaShow(show: OllamaShowResponse): ModelFacts {
  const info = isObject(show.model_info) ? show.model_info : {};
  const details = isObject(show.details) ? (show.details as unknown as Record<string, unknown>) : {};
  const arch = text(info["general.architecture"]);
  const numCtx = typeof show.parameters === "string" ? /^\s*num_ctx\s+(\d+)\s*$/m.exec(show.parameters) : null;
  const n_params = count(info["general.parameter_count"]);
  return {
    server: "ollama",
    context_length: numCtx ? count(Number(numCtx[1])) : undefined,
    n_ctx_train: arch ? count(info[`${arch}.context_length`]) : undefined,
    n_params,
    parameter_size: text(details.parameter_size) ?? (n_params !== undefined ? humanNumber(n_params) : undefined),
    quantization: text(details.quantization_level),
    family: text(details.family) ?? arch,
    format: text(details.format),
    n_vocab: arch ? count(info[`${arch}.vocab_size`]) : undefined,
    capabilities: Array.isArray(show.capabilities) ? show.capabilities.filter((c): c is string => typeof c === "string") : undefined,
    chat_template: text(show.template),
  };
}

/** A parameter count as Ollama prints it (ollama/format/format.go HumanNumber): "8B", "7.6B", "494.03M", "5.03M". */
export function humanNumber(n: number): string {
  const fmt = (v: number, digits: number, unit: string) => (v === Math.floor(v) ? `${v}${unit}` : `${v.toFixed(digits)}${unit}`);
  if (n >= 1e9) return fmt(n / 1e9, 1, "B");
  if (n >= 1e6) return fmt(n / 1e6, 2, "M");
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

/** llama.cpp's k-quant file-type names (llama_model_ftype_name) whose Ollama names are not derived by rule. */
const LLAMA_FTYPE_NAMES: Record<string, string> = {
  "Q2_K - Medium": "Q2_K",
  "Q2_K - Small": "Q2_K_S",
  "Q3_K - Small": "Q3_K_S",
  "Q3_K - Medium": "Q3_K_M",
  "Q3_K - Large": "Q3_K_L",
  "Q4_K - Small": "Q4_K_S",
  "Q4_K - Medium": "Q4_K_M",
  "Q5_K - Small": "Q5_K_S",
  "Q5_K - Medium": "Q5_K_M",
};

/** llama.cpp's file-type name ("all F32", "Q4_K - Medium", "IQ2_XS - 2.3125 bpw") as Ollama names quantizations ("F32", "Q4_K_M", "IQ2_XS"). */
export function quantizationName(ftype: string | undefined): string | undefined {
  if (ftype === undefined) return undefined;
  return LLAMA_FTYPE_NAMES[ftype] ?? ftype.replace(/^all /, "").replace(/ - .*$/, "");
}
