/**
 * The dashboard's API (admin surfaces; auth in app.ts), read by the page at `/ui` (src/ui/):
 *
 * - `GET /admin/requests?after=&before=&limit=&model=&upstream=&endpoint=&status=`: the latest
 *   request-log rows, newest first (`status`: `200`, `4xx`, `error`); the page polls with `after`;
 * - `GET /admin/requests/:id`: one row, every column, JSON columns parsed;
 * - `GET /admin/facets`: models, upstreams and endpoints seen in the last week (the filters);
 * - `GET /admin/stats?window=hour|day|week`: the overview's time series and per-model figures;
 * - `GET /admin/config`: the effective config, secrets masked as by `check-config`.
 *
 * Reads run in the request log's reader Worker (request-log-queries.ts), off the event loop.
 * The log's rows become visible once its Worker wrote them (`log.flush_interval_ms`, 100 ms by
 * default). With `log.requests: false` the request routes answer 404 `request_log_off`; a log
 * that cannot be read, 503 `request_log_unreadable`.
 */
import { Elysia, t } from "elysia";
import { maskSecrets } from "../config/load.ts";
import type { Runtime } from "../runtime.ts";
import type { RequestLogQueries } from "../store/request-log-queries.ts";
import { ProxyError } from "./errors.ts";

const optionalNumber = t.Optional(t.Numeric({ minimum: 0 }));

export function dashboardRoutes(runtime: Runtime) {
  /** Runs one read; a log that cannot be read (a deleted or corrupt file) is a 503 that says so. */
  const read = async <T>(query: (reader: RequestLogQueries) => Promise<T>): Promise<T> => {
    if (!runtime.requestLog) throw new ProxyError(404, "The request log is off (log.requests: false): the dashboard has no requests to show.", "invalid_request_error", "request_log_off");
    try {
      return await query(runtime.requestLog.reader);
    } catch (err) {
      throw new ProxyError(503, `The request log cannot be read: ${(err as Error).message}`, "server_error", "request_log_unreadable");
    }
  };
  return new Elysia({ name: "dashboard" })
    .get("/admin/requests", async ({ query }) => ({ data: await read((r) => r.list(query)) }), {
      query: t.Object({
        after: optionalNumber,
        before: optionalNumber,
        limit: optionalNumber,
        model: t.Optional(t.String()),
        upstream: t.Optional(t.String()),
        endpoint: t.Optional(t.String()),
        status: t.Optional(t.String()),
      }),
    })
    .get(
      "/admin/requests/:id",
      async ({ params }) => {
        const row = await read((r) => r.get(params.id));
        if (!row) throw new ProxyError(404, `No request-log row ${params.id} (pruned, or not written yet).`, "invalid_request_error", "not_found");
        return row;
      },
      { params: t.Object({ id: t.Numeric({ minimum: 1 }) }) },
    )
    .get("/admin/facets", () => read((r) => r.facets()))
    .get("/admin/stats", ({ query }) => read((r) => r.stats(query.window ?? "hour")), {
      query: t.Object({ window: t.Optional(t.Union([t.Literal("hour"), t.Literal("day"), t.Literal("week")])) }),
    })
    .get("/admin/config", () => ({ path: runtime.state.configPath ?? null, config: maskSecrets(runtime.state.config) }));
}
