/**
 * The configuration schema (TypeBox 0.34, the version Elysia 1.4 re-exports).
 *
 * Every key has a default, so an empty document is a valid config; `Value.Default` fills them in
 * before validation. Durations are milliseconds (`*_ms`), sizes are bytes (`*_bytes`).
 */
import { Type as T, type Static } from "@sinclair/typebox";

const Strings = T.Array(T.String(), { default: [] });

export const UpstreamSchema = T.Object(
  {
    name: T.String({ minLength: 1, pattern: "^[^/\\s]+$", description: "unique name, no '/'" }),
    type: T.Union([T.Literal("openai"), T.Literal("ollama")], { default: "openai" }),
    base_url: T.String({ pattern: "^https?://", description: "e.g. http://127.0.0.1:8000/v1" }),
    /** When empty, the client's own Authorization header is forwarded. */
    api_key: T.String({ default: "" }),
    headers: T.Record(T.String(), T.String(), { default: {} }),
    /** Connect + time to first byte of the response headers, including any wait for a fetch slot (BUN_CONFIG_MAX_HTTP_REQUESTS). */
    timeout_ms: T.Integer({ minimum: 1, default: 600_000 }),
    /** Longest silence between two body chunks of a streamed response. */
    idle_timeout_ms: T.Integer({ minimum: 1, default: 120_000 }),
    max_retries: T.Integer({ minimum: 0, default: 2 }),
    /**
     * Response statuses retried (connection errors always are). No 500 by default: an LLM server's 500
     * is usually deterministic (llama.cpp answers 500 when the model's output does not parse as a tool
     * call), so a retry only generates the same failure again.
     */
    retry_on: T.Array(T.Integer({ minimum: 400, maximum: 599 }), { default: [408, 429, 502, 503, 504] }),
    retry_base_delay_ms: T.Integer({ minimum: 0, default: 500 }),
    retry_max_delay_ms: T.Integer({ minimum: 0, default: 30_000 }),
    /** Wait before retrying a 429 that carries no Retry-After. */
    rate_limit_wait_ms: T.Integer({ minimum: 0, default: 2_000 }),
    /** Longest Retry-After the proxy honours; a longer one is passed on to the client. */
    max_retry_after_ms: T.Integer({ minimum: 0, default: 60_000 }),
    /** Overall budget for all attempts of one request. */
    deadline_ms: T.Integer({ minimum: 1, default: 900_000 }),
    /** Top-level request fields removed before sending (e.g. prompt_cache_key, logprobs). */
    drop_params: Strings,
    /** Top-level request fields renamed before sending (e.g. max_completion_tokens: max_tokens). */
    rename_params: T.Record(T.String(), T.String(), { default: {} }),
    /** Model ids this upstream serves; `auto` asks its /models. */
    models: T.Union([T.Literal("auto"), T.Array(T.String())], { default: "auto" }),
    /**
     * A named tool_choice ({type: function, function: {name}}): `native` passes it on; `emulate` sends
     * only that tool with tool_choice "required" (for servers that treat a named choice as "auto");
     * `auto` emulates when the upstream reports llama.cpp in /props build_info (docs/llama-cpp.md).
     */
    named_tool_choice: T.Union([T.Literal("auto"), T.Literal("native"), T.Literal("emulate")], { default: "auto" }),
    /**
     * The server's own non-/v1 paths clients may reach through the proxy, relative to its root
     * (base_url without /v1), e.g. [/props, /tokenize, /slots]: at the proxy's root and under
     * /upstreams/<name>/ (docs/llama-cpp.md). Empty: none (opt-in).
     */
    passthrough: T.Array(T.String({ pattern: "^/" }), { default: [] }),
    /** `convert`: ask the upstream for floats and base64-encode them for clients asking base64. */
    embeddings_base64: T.Union([T.Literal("passthrough"), T.Literal("convert")], { default: "passthrough" }),
  },
  { additionalProperties: false },
);

const AliasTarget = T.Union([
  T.String({ description: "'upstream/model' or 'model'" }),
  T.Object({ upstream: T.Optional(T.String()), model: T.String() }, { additionalProperties: false }),
]);

const SelectionMode = T.Union([T.Literal("hybrid"), T.Literal("lexical"), T.Literal("semantic"), T.Literal("off")]);

/** Cache-aware selection (docs/tool-selection.md): a stable forwarded tool set, each request's own selection, or stable when the upstream caches prompts. */
const SelectionCache = T.Union([T.Literal("auto"), T.Literal("stable"), T.Literal("per_request")]);

/** Tool-selection settings a model may override (docs/tool-selection.md). */
export const SelectionOverrideSchema = T.Object(
  {
    mode: T.Optional(SelectionMode),
    keep: T.Optional(T.Integer({ minimum: 1 })),
    min_tools: T.Optional(T.Integer({ minimum: 0 })),
    min_score: T.Optional(T.Number({ minimum: 0 })),
    max_tool_tokens: T.Optional(T.Integer({ minimum: 0 })),
    always: T.Optional(T.Array(T.String())),
    never: T.Optional(T.Array(T.String())),
    related: T.Optional(T.Boolean()),
    deadline_ms: T.Optional(T.Integer({ minimum: 0 })),
    keep_within: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
    small_talk_keep: T.Optional(T.Integer({ minimum: 0 })),
    fail_open: T.Optional(T.Boolean()),
    server_bonus: T.Optional(T.Number({ minimum: 0 })),
    bridge: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
    cache: T.Optional(SelectionCache),
    cache_max_tool_tokens: T.Optional(T.Integer({ minimum: 0 })),
    cache_keep: T.Optional(T.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const SelectionSchema = T.Object(
  {
    /** hybrid (lexical + semantic), lexical, semantic, or off (forward every tool). */
    mode: T.Union([T.Literal("hybrid"), T.Literal("lexical"), T.Literal("semantic"), T.Literal("off")], { default: "hybrid" }),
    /** Best-ranked tools kept (env TOOLS_TO_KEEP); related tools come along. */
    keep: T.Integer({ minimum: 1, default: 5 }),
    /** Requests with at most this many tools are left alone. */
    min_tools: T.Integer({ minimum: 0, default: 8 }),
    /** Ranked tools with a fused score (0..1) below this are dropped. */
    min_score: T.Number({ minimum: 0, default: 0 }),
    /** Token budget (o200k_base, estimated: src/selection/tokens.ts) for the kept tools; 0 = none. */
    max_tool_tokens: T.Integer({ minimum: 0, default: 0 }),
    /** Tool-name globs always kept / never kept. */
    always: Strings,
    never: Strings,
    /** Keep opposites (TurnOn/TurnOff) and the best tool's family together. */
    related: T.Boolean({ default: true }),
    /** Wait at most this long for embeddings, then rank lexically. */
    deadline_ms: T.Integer({ minimum: 0, default: 50 }),
    /** auto: forward a stable working set of tools unless the upstream shows it does not cache prompts; stable; per_request. */
    cache: T.Union([T.Literal("auto"), T.Literal("stable"), T.Literal("per_request")], { default: "auto" }),
    /** Most tokens (o200k_base) the stable working set's tools may take before it is shrunk (to 3/4); 0 = no cap.
     *  4500 o200k tokens render as ~5.6k Qwen2.5 template tokens: with a 1k system prompt the prompt stays
     *  inside the 8k context HA asks Ollama for, with room for the reply. */
    cache_max_tool_tokens: T.Integer({ minimum: 0, default: 4500 }),
    /** With the stable set, best-ranked tools (plus related) each request adds to it; the set supplies the rest.
     *  2: recall as keep 5 per request on the replayed HA day (docs/tool-selection.md); on the whole dev set with
     *  76 tools 0.989 against 0.993; 1 lost 2 points; 3 gained 0.2 for 1.4x the tokens. */
    cache_keep: T.Integer({ minimum: 1, default: 2 }),
    /** transformers.js feature-extraction model id (env LLM_PROXY_EMBEDDING_MODEL). */
    embedding_model: T.String({ default: "Xenova/all-MiniLM-L6-v2" }),
    /** Folder holding `<embedding_model>/` for offline installs; when set, nothing is downloaded (env LLM_PROXY_MODELS_DIR). */
    models_dir: T.String({ default: "" }),
    /** ONNX weights variant: q8 (model_quantized.onnx), fp32, fp16, ... */
    dtype: T.String({ default: "q8" }),
    /** Embedding batches allowed to wait; more fall back to lexical. */
    queue_size: T.Integer({ minimum: 1, default: 32 }),
    /** Query embeddings kept in memory. */
    query_cache_size: T.Integer({ minimum: 0, default: 1024 }),
    /**
     * Embeddings from an upstream's endpoint (OpenAI `/embeddings`, Ollama `/api/embed`) instead of a
     * model run in the proxy: onnxruntime is then never loaded. `embedding_model`, `models_dir` and
     * `dtype` are not used.
     */
    embeddings: T.Optional(
      T.Object(
        {
          /** Name of a configured upstream. */
          upstream: T.String({ minLength: 1 }),
          /** Embedding model id as that upstream knows it, e.g. nomic-embed-text. */
          model: T.String({ minLength: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Per-model overrides keyed by a glob on the model name; the first match applies, lists add up. */
    models: T.Record(T.String(), SelectionOverrideSchema, { default: {} }),
    /** Also keep every ranked tool whose fused score is at least this share of the best one (0 = exactly `keep`). */
    keep_within: T.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /** Ranked tools kept for small talk ("thanks!", "tell me a joke"). */
    small_talk_keep: T.Integer({ minimum: 0, default: 2 }),
    /** Keep every tool when the request is in a language the tools are not written in (and the model is not multilingual) or shares no word with any tool. */
    fail_open: T.Boolean({ default: true }),
    /** Added to the fused score of the tools of the same server or family as the tool just called. */
    server_bonus: T.Number({ minimum: 0, default: 0.3 }),
    /** Least cosine for bridging a request word no tool uses to the nearest tool-name word; 0 = off. */
    bridge: T.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /** Correct each tool's lexical score by its typical score over generic probe requests (hubs). */
    calibrate: T.Boolean({ default: true }),
    /** Also judge a request without a lexical anchor (no tool-name word, path or web address) against the "answerable" probes of conf/selection/no-tool-probes.yaml. */
    answerable_probes: T.Boolean({ default: true }),
    /** Whether the embedding model understands many languages; unset = guessed from its name (multilingual, m3, e5, LaBSE, ...). */
    embedding_multilingual: T.Optional(T.Boolean()),
    /** Domain packs (conf/selection/*.yaml): "auto" (shipped packs whose detect rule matches the tools), shipped pack names, or YAML paths. */
    packs: T.Array(T.String({ minLength: 1 }), { default: ["auto"] }),
  },
  { additionalProperties: false, default: {} },
);

const CompressionMode = T.Union([T.Literal("fit"), T.Literal("random"), T.Literal("off")]);

/** Compression settings a model may override (docs/compression.md). */
export const CompressionOverrideSchema = T.Object(
  {
    mode: T.Optional(CompressionMode),
    context_window: T.Optional(T.Integer({ minimum: 0 })),
    reply_reserve: T.Optional(T.Integer({ minimum: 0 })),
    safety_margin: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
    max_tool_result_tokens: T.Optional(T.Integer({ minimum: 16 })),
    history_block: T.Optional(T.Integer({ minimum: 1 })),
    ratio: T.Optional(T.Number({ minimum: 1 })),
    keep_ratio: T.Optional(T.Number({ exclusiveMinimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);

export const CompressionSchema = T.Object(
  {
    /** fit (make each request fit its token budget), random (drop user-message tokens at random), off. */
    mode: T.Union([T.Literal("fit"), T.Literal("random"), T.Literal("off")], { default: "fit" }),
    /** Context window in tokens when neither the request (Ollama num_ctx) nor a model override names one; 0 = ask the upstream. */
    context_window: T.Integer({ minimum: 0, default: 0 }),
    /** Ask the upstream for its context window (llama.cpp /props n_ctx, Ollama /api/show context_length). */
    upstream_context: T.Boolean({ default: true }),
    /** Tokens kept free for the reply when the request sets no max_tokens / max_completion_tokens / num_predict. */
    reply_reserve: T.Integer({ minimum: 0, default: 1024 }),
    /** Share added to every estimate (0.05 = 5%): token counts are estimates of another model's tokenizer. */
    safety_margin: T.Number({ minimum: 0, maximum: 1, default: 0.05 }),
    /** Step 2: tool results longer than this are cut to head + tail. */
    max_tool_result_tokens: T.Integer({ minimum: 16, default: 512 }),
    /** Step 3 drops turns in multiples of this, so the upstream's prefix cache survives between cuts (docs/compression.md). */
    history_block: T.Integer({ minimum: 1, default: 1 }),
    /** Mode random: 2.0 keeps ~50% of each user message's tokens (env COMPRESSION_RATIO). */
    ratio: T.Number({ minimum: 1, default: 1 }),
    /** Mode random: share of tokens kept, wins when below 1 (env TOKENS_TO_KEEP_RATIO). */
    keep_ratio: T.Number({ exclusiveMinimum: 0, maximum: 1, default: 1 }),
    /** Mode random: seed for reproducible drops; unset = a new draw every request. */
    seed: T.Optional(T.Integer()),
    /** Print the before/after text of compressed messages to stdout (also with log.log_messages). */
    log: T.Boolean({ default: false }),
    /** Per-model overrides keyed by a glob on the model name; the first match applies. */
    models: T.Record(T.String(), CompressionOverrideSchema, { default: {} }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = T.Object(
  {
    server: T.Object(
      {
        host: T.String({ default: "127.0.0.1" }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        /** Extra prefix the /v1 routes also answer under, e.g. /api/v1. */
        path_prefix: T.String({ default: "", pattern: "^(/[^\\s]*[^/\\s])?$" }),
        body_limit_bytes: T.Integer({ minimum: 1024, default: 8 * 1024 * 1024 }),
        /**
         * Deepest nesting of arrays/objects a JSON body may have (400 beyond). Real requests stay under
         * ~12 (tool parameter schemas); 64 leaves room while bounding every recursive walk of a body.
         */
        json_depth_limit: T.Integer({ minimum: 8, maximum: 10_000, default: 64 }),
        cors_origins: Strings,
        /**
         * On SIGTERM/SIGINT, how long requests in flight may run on before they are cut. Most chat
         * replies finish within a minute; deploy/llm-proxy.service's TimeoutStopSec leaves 15 s more.
         */
        shutdown_grace_ms: T.Integer({ minimum: 0, default: 60_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: T.Object(
      {
        /** Plain inbound API keys. */
        keys: Strings,
        /** SHA-256 hex digests of inbound API keys, for configs that must not hold keys. */
        key_sha256: T.Array(T.String({ pattern: "^\\s*[0-9a-fA-F]{64}\\s*$", description: "64 hex digits" }), { default: [] }),
        /**
         * Keys for the admin surfaces (/ui, /admin/*, /metrics), plain or as SHA-256 hex digests. When
         * set, client keys no longer open them; when empty, they answer loopback clients only
         * (docs/dashboard.md).
         */
        admin_keys: Strings,
        admin_key_sha256: T.Array(T.String({ pattern: "^\\s*[0-9a-fA-F]{64}\\s*$", description: "64 hex digits" }), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    data_dir: T.String({ default: "./data" }),
    /** The MCP servers file (docs/mcp.md; env MCP_CONFIG); empty: mcp/servers.yaml beside the config file, which may be absent. */
    mcp_config: T.String({ default: "" }),
    log: T.Object(
      {
        /** Record one row per request in SQLite. */
        requests: T.Boolean({ default: true }),
        /** Also store request and response bodies (secrets redacted). */
        bodies: T.Boolean({ default: false }),
        retention_days: T.Number({ minimum: 0, default: 30 }),
        retention_rows: T.Integer({ minimum: 0, default: 100_000 }),
        /** How often queued rows go to the log's Worker: short, so each write is a small burst (docs/benchmarks.md). */
        flush_interval_ms: T.Integer({ minimum: 1, default: 100 }),
        log_messages: T.Boolean({ default: false }),
        log_raw_requests: T.Boolean({ default: false }),
        log_raw_responses: T.Boolean({ default: false }),
        /** Write every augmented model's conversation as JSONL under <data_dir>/chats/ (docs/augmented-models.md). */
        chat_history: T.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    selection: SelectionSchema,
    /** Augmented model files (*.yml|yaml); "" = `models/` beside the config file, or conf/models without one (env MODELS_CONFIG_DIR). */
    models_dir: T.String({ default: "" }),
    /** Skills (*.md, <name>/SKILL.md, *.yaml); "" = `skills/` beside the config file, or conf/skills without one. */
    skills_dir: T.String({ default: "" }),
    /** The tool loop of augmented models (docs/augmented-models.md). */
    tool_loop: T.Object(
      {
        /** How long the proxy remembers the tools it ran in a turn that also went to the client's tools (the splice); refreshed on use. An hour covers a conversation's pauses. */
        splice_ttl_ms: T.Integer({ minimum: 1, default: 3_600_000 }),
        /** Turns remembered at most; the oldest go first (a bound on memory, ~1-10 KiB each). */
        splice_max_entries: T.Integer({ minimum: 1, default: 10_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    compression: CompressionSchema,
    upstreams: T.Array(UpstreamSchema, { default: [] }),
    models: T.Object(
      {
        /** Used when a request names no model. */
        default_model: T.String({ default: "" }),
        /** Client model name -> upstream model. */
        aliases: T.Record(T.String(), AliasTarget, { default: {} }),
        list_cache_ttl_ms: T.Integer({ minimum: 0, default: 60_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type UpstreamConfig = Static<typeof UpstreamSchema>;
export type SelectionConfig = Static<typeof SelectionSchema>;
export type CompressionConfig = Static<typeof CompressionSchema>;
export type AliasTargetConfig = Static<typeof AliasTarget>;
