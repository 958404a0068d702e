/**
 * Admin routes (auth as every non-/health route, enforced by the server wrapper).
 *
 * `POST /admin/tools/rank`: takes a chat request (`messages`, `tools`, optional `model` and
 * `tool_choice`) and returns every tool with its lexical, semantic and fused scores, its rank and
 * the keep/drop decision with its reason, under the settings that apply to `model` — for users
 * tuning their selection setup. Nothing is sent upstream.
 *
 * `POST /admin/reload`: re-reads the main config, the augmented model files, the skills and the MCP
 * servers file, and swaps them in together. Answers `{status: "reloaded", changes}` (config changed,
 * models and MCP servers added, removed, changed), or 400 with every problem found; the running set
 * then stays.
 * `GET /admin/mcp`: every MCP server with its state, transport, the tools it offers by the names the
 * model sees, call counts and p50/p95 call times, restarts and last error (docs/mcp.md).
 *
 * `GET /admin/compression`: the per-model calibration weights of the token estimate (upstream
 * tokens per estimated token, for messages and for tools, with sample counts), the estimator's cache
 * and learned chars-per-token ratios, and the stage's failure count.
 */
import { Elysia, t } from "elysia";
import { ConfigError } from "../config/load.ts";
import { errorResponse, ProxyError } from "./errors.ts";
import type { ChatCompletionRequest } from "../protocol/openai.ts";
import type { Runtime } from "../runtime.ts";
import { resolveSettings } from "../selection/settings.ts";
import { jsonRoute } from "./json-body.ts";

const RankBody = t.Object(
  {
    model: t.Optional(t.String()),
    messages: t.Array(t.Object({ role: t.String() }, { additionalProperties: true }), { minItems: 1 }),
    tools: t.Array(t.Object({ type: t.String(), function: t.Object({ name: t.String() }, { additionalProperties: true }) }, { additionalProperties: true }), { minItems: 1 }),
  },
  { additionalProperties: true },
);

const round = (x: number | null) => (x === null ? null : Math.round(x * 10_000) / 10_000);

export function adminRoutes(runtime: Runtime) {
  return new Elysia({ name: "admin" })
    .post("/admin/reload", () => {
      try {
        return { status: "reloaded", changes: runtime.reload() };
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        return errorResponse(new ProxyError(400, `reload refused, the running configuration stays: ${err.message}`, "invalid_request_error", "invalid_config"), "openai");
      }
    })
    .get("/admin/compression", () => runtime.compression.snapshot())
    .post(
    "/admin/tools/rank",
    async ({ body }) => {
      const request = body as unknown as ChatCompletionRequest;
      const settings = resolveSettings(runtime.state.config.selection, [request.model]);
      const result = (await runtime.selector.select(request, settings))!;
      return {
        mode: result.mode,
        selection_ms: Math.round(result.ms * 100) / 100,
        settings,
        kept: result.kept.length,
        total: request.tools!.length,
        tool_tokens_before: result.tokensBefore,
        tool_tokens_after: result.tokensAfter,
        tools: result.decisions.map((d) => ({ name: d.name, rank: d.rank, lexical: round(d.lexical), semantic: round(d.semantic), fused: round(d.fused), kept: d.kept, reason: d.reason })),
      };
    },
    jsonRoute(runtime, RankBody),
  ).get("/admin/mcp", () => ({ config: runtime.mcpConfig.path ?? null, servers: runtime.mcp.status() }));
}
