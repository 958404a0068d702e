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
    /** Connect + time to first byte of the response headers. */
    timeout_ms: T.Integer({ minimum: 1, default: 600_000 }),
    /** Longest silence between two body chunks of a streamed response. */
    idle_timeout_ms: T.Integer({ minimum: 1, default: 120_000 }),
    max_retries: T.Integer({ minimum: 0, default: 2 }),
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
    /** `convert`: ask the upstream for floats and base64-encode them for clients asking base64. */
    embeddings_base64: T.Union([T.Literal("passthrough"), T.Literal("convert")], { default: "passthrough" }),
  },
  { additionalProperties: false },
);

const AliasTarget = T.Union([
  T.String({ description: "'upstream/model' or 'model'" }),
  T.Object({ upstream: T.Optional(T.String()), model: T.String() }, { additionalProperties: false }),
]);

export const ConfigSchema = T.Object(
  {
    server: T.Object(
      {
        host: T.String({ default: "127.0.0.1" }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        /** Extra prefix the /v1 routes also answer under, e.g. /api/v1. */
        path_prefix: T.String({ default: "", pattern: "^(/[^\\s]*[^/\\s])?$" }),
        body_limit_bytes: T.Integer({ minimum: 1024, default: 8 * 1024 * 1024 }),
        cors_origins: Strings,
      },
      { additionalProperties: false, default: {} },
    ),
    auth: T.Object(
      {
        /** Plain inbound API keys. */
        keys: Strings,
        /** SHA-256 hex digests of inbound API keys, for configs that must not hold keys. */
        key_sha256: Strings,
      },
      { additionalProperties: false, default: {} },
    ),
    data_dir: T.String({ default: "./data" }),
    log: T.Object(
      {
        /** Record one row per request in SQLite. */
        requests: T.Boolean({ default: true }),
        /** Also store request and response bodies (secrets redacted). */
        bodies: T.Boolean({ default: false }),
        retention_days: T.Number({ minimum: 0, default: 30 }),
        retention_rows: T.Integer({ minimum: 0, default: 100_000 }),
        flush_interval_ms: T.Integer({ minimum: 1, default: 1_000 }),
        log_messages: T.Boolean({ default: false }),
        log_raw_requests: T.Boolean({ default: false }),
        log_raw_responses: T.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
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
export type AliasTargetConfig = Static<typeof AliasTarget>;
