/**
 * Environment variables honoured for users migrating from other OpenAI proxies. They override the
 * config file (precedence: command-line flag > environment > file > default).
 *
 * Server: HOST, PORT, PROXY_PATH_PREFIX, LLM_PROXY_DATA_DIR.
 * Default upstream (the first in `upstreams`, created when the file has none):
 *   OPENAI_API_KEY | API_KEY, OPENAI_API_URL | OPENAI_BASE_URL | BASE_URL.
 * Every upstream: REQUEST_TIMEOUT | TIMEOUT, MAX_RETRIES, BASE_RETRY_DELAY, RATE_LIMIT_WAIT.
 * Tool selection: TOOLS_TO_KEEP, LLM_PROXY_EMBEDDING_MODEL, LLM_PROXY_MODELS_DIR.
 * Augmented models: MODELS_CONFIG_DIR (models_dir).
 * MCP servers file: MCP_CONFIG.
 * Compression: COMPRESSION_RATIO, TOKENS_TO_KEEP_RATIO (either one, when it asks for dropping, also sets
 *   `compression.mode: random`, as it turns dropping on in the proxies these names come from).
 * Durations accept "250ms", "30s", "2m"; a bare number means seconds, as in the tools these names
 * come from.
 */

type Env = Record<string, string | undefined>;

const first = (env: Env, ...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");

/** Parses "250ms", "1.5s", "2m", "1h" or a bare number of seconds into ms; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Math.round(Number(m[1]) * factor);
}

/**
 * Applies the environment to a parsed (not yet validated) config document, in place.
 * @throws Error naming the variable when a duration or number is malformed
 */
export function applyEnv(doc: Record<string, any>, env: Env): void {
  const duration = (name: string) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const ms = parseDuration(raw);
    if (ms === undefined) throw new Error(`${name}: expected a duration such as 30, 30s or 500ms, found "${raw}"`);
    return ms;
  };
  const server = (doc.server ??= {});
  const host = first(env, "HOST");
  if (host) server.host = host;
  const port = first(env, "PORT");
  if (port) server.port = port;
  const prefix = first(env, "PROXY_PATH_PREFIX");
  if (prefix) server.path_prefix = prefix.replace(/\/+$/, "");
  const dataDir = first(env, "LLM_PROXY_DATA_DIR");
  if (dataDir) doc.data_dir = dataDir;

  const modelsConfigDir = first(env, "MODELS_CONFIG_DIR");
  if (modelsConfigDir) doc.models_dir = modelsConfigDir;
  const mcpConfig = first(env, "MCP_CONFIG");
  if (mcpConfig) doc.mcp_config = mcpConfig;

  const keep = first(env, "TOOLS_TO_KEEP");
  const embeddingModel = first(env, "LLM_PROXY_EMBEDDING_MODEL");
  const modelsDir = first(env, "LLM_PROXY_MODELS_DIR");
  if (keep || embeddingModel || modelsDir) {
    const selection = (doc.selection ??= {});
    if (keep) selection.keep = keep;
    if (embeddingModel) selection.embedding_model = embeddingModel;
    if (modelsDir) selection.models_dir = modelsDir;
  }

  const ratio = first(env, "COMPRESSION_RATIO");
  const keepRatio = first(env, "TOKENS_TO_KEEP_RATIO");
  if (ratio || keepRatio) {
    const compression = (doc.compression ??= {});
    if (ratio) compression.ratio = ratio;
    if (keepRatio) compression.keep_ratio = keepRatio;
    if (Number(ratio ?? 1) > 1 || Number(keepRatio ?? 1) < 1) compression.mode = "random";
  }

  const apiKey = first(env, "OPENAI_API_KEY", "API_KEY");
  const baseUrl = first(env, "OPENAI_API_URL", "OPENAI_BASE_URL", "BASE_URL");
  if (!Array.isArray(doc.upstreams) || doc.upstreams.length === 0) {
    doc.upstreams = [{ name: "default", type: "openai", base_url: "https://api.openai.com/v1" }];
  }
  const main = doc.upstreams[0];
  if (main && typeof main === "object") {
    if (apiKey) main.api_key = apiKey;
    if (baseUrl) main.base_url = baseUrl.replace(/\/+$/, "");
  }

  const timeout = duration(first(env, "REQUEST_TIMEOUT") ? "REQUEST_TIMEOUT" : "TIMEOUT");
  const retryDelay = duration("BASE_RETRY_DELAY");
  const rateLimitWait = duration("RATE_LIMIT_WAIT");
  const maxRetries = first(env, "MAX_RETRIES");
  for (const upstream of doc.upstreams) {
    if (!upstream || typeof upstream !== "object") continue;
    if (timeout !== undefined) upstream.timeout_ms = timeout;
    if (retryDelay !== undefined) upstream.retry_base_delay_ms = retryDelay;
    if (rateLimitWait !== undefined) upstream.rate_limit_wait_ms = rateLimitWait;
    if (maxRetries !== undefined) upstream.max_retries = maxRetries;
  }
}
