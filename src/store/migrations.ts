/**
 * Versioned schema of the request log database. Each entry upgrades from the version before it;
 * the applied version is kept in SQLite's `PRAGMA user_version`. Append, never edit.
 */
export const MIGRATIONS: string[] = [
  `CREATE TABLE requests (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,              -- ms since epoch, when the request arrived
     request_id TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     method TEXT NOT NULL,
     client_model TEXT,
     upstream TEXT,
     upstream_model TEXT,
     status INTEGER,
     latency_ms REAL,                  -- arrival to last byte sent
     ttfb_ms REAL,                     -- arrival to first body byte from the upstream
     stream INTEGER NOT NULL DEFAULT 0,
     prompt_tokens INTEGER,
     completion_tokens INTEGER,
     finish_reason TEXT,
     retries INTEGER NOT NULL DEFAULT 0,
     error TEXT,
     tools_received INTEGER,           -- tools in the client's request
     tools_kept TEXT,                  -- JSON array of the tool names forwarded
     tool_tokens_before INTEGER,
     tool_tokens_after INTEGER,
     selection_mode TEXT,              -- hybrid | lexical | semantic | off | skipped (and why)
     selection_ms REAL,
     request_body TEXT,
     response_body TEXT
   );
   CREATE INDEX requests_ts ON requests (ts);
   CREATE INDEX requests_request_id ON requests (request_id);`,
  // Augmented models' tool loop (docs/augmented-models.md): rounds of proxy tool calls, each call's
  // name, ms and outcome, the total time spent in tools, and how the loop ended.
  `ALTER TABLE requests ADD COLUMN tool_rounds INTEGER;           -- rounds in which the proxy ran its own tools
   ALTER TABLE requests ADD COLUMN proxy_tool_calls TEXT;         -- JSON [{name, ms, ok, error?}]
   ALTER TABLE requests ADD COLUMN tool_time_ms REAL;             -- wall-clock time spent running proxy tools
   ALTER TABLE requests ADD COLUMN tool_loop_end TEXT;            -- answer | client_tools | max_tool_rounds | upstream_error | client_disconnected`,
  // Compression (src/pipeline/compress.ts): estimated prompt tokens before and after the stage, the
  // budget they were fitted to, what ran, and how many messages went or were cut.
  `ALTER TABLE requests ADD COLUMN compression_mode TEXT;            -- fit | random | off | fit (no budget)
   ALTER TABLE requests ADD COLUMN prompt_tokens_estimated INTEGER;   -- before the stage, calibrated
   ALTER TABLE requests ADD COLUMN prompt_tokens_estimated_after INTEGER;
   ALTER TABLE requests ADD COLUMN token_budget INTEGER;              -- context window - reply reserve
   ALTER TABLE requests ADD COLUMN compression_steps TEXT;            -- JSON object: step (lossless, tool-results, history, tools, random) -> tokens saved; "over budget" -> tokens still over
   ALTER TABLE requests ADD COLUMN messages_dropped INTEGER;
   ALTER TABLE requests ADD COLUMN messages_truncated INTEGER;
   ALTER TABLE requests ADD COLUMN compression_ms REAL;`,
  // issue 7 (hardening): `status` is what the client got (e.g. 502 for an upstream body the Ollama
  // front could not translate, the error status of a stream cut mid-way); upstream_status is the HTTP
  // status the upstream answered with, null when it never answered.
  `ALTER TABLE requests ADD COLUMN upstream_status INTEGER;`,
  // Dashboard (docs/dashboard.md): the tool selector's decision on every tool of the request, as
  // /admin/tools/rank computes it, so the request's detail view can show kept and dropped tools and why.
  // (proxy_tool_calls entries also carry `round`, and `arguments` with log.bodies, from then on.)
  `ALTER TABLE requests ADD COLUMN tool_decisions TEXT;           -- JSON [{name, rank, lexical, semantic, fused, kept, reason}], the request's order`,
  // Why each retry of the request happened (issue 15): JSON array of "HTTP 503: <first bytes of the
  // error body>" or "ECONNREFUSED: ..." strings, in order; NULL when there was no retry.
  `ALTER TABLE requests ADD COLUMN retry_reasons TEXT;`,
  // Cache-aware tool selection (docs/tool-selection.md): what the upstream's prompt cache did and
  // how the forwarded tool working set behaved.
  `ALTER TABLE requests ADD COLUMN selection_cache TEXT;            -- stable | per_request | per_request (over budget) ...
   ALTER TABLE requests ADD COLUMN prompt_tokens_to_compute INTEGER; -- estimated (o200k_base): tokens after the prefix shared with a recent prompt
   ALTER TABLE requests ADD COLUMN cached_tokens INTEGER;           -- reported: usage.prompt_tokens_details.cached_tokens or timings.cache_n
   ALTER TABLE requests ADD COLUMN working_set_size INTEGER;        -- tools in the stable working set after this request
   ALTER TABLE requests ADD COLUMN working_set_change TEXT;         -- none | created | grown | tail | shrunk | over budget`,
  // Shared tool-decision lists (issue 10, the Pi's SD card): a remembered selection outcome gives the
  // same decisions (~3.5 KB for Home Assistant's 34 tools) to many requests, so each distinct list is
  // stored once, keyed by the SHA-256 of its JSON text, and rows name it by id. Rows written before
  // keep their inline tool_decisions; new rows leave it NULL. Retention deletes lists no row names
  // (request-log-writer.ts), through the partial index.
  `CREATE TABLE tool_decision_lists (
     id INTEGER PRIMARY KEY,
     hash BLOB NOT NULL UNIQUE,        -- SHA-256 of decisions (32 bytes)
     decisions TEXT NOT NULL           -- JSON, as tool_decisions
   );
   ALTER TABLE requests ADD COLUMN tool_decisions_id INTEGER;      -- tool_decision_lists.id; NULL: inline tool_decisions or none
   CREATE INDEX requests_tool_decisions_id ON requests (tool_decisions_id) WHERE tool_decisions_id IS NOT NULL;`,
];
