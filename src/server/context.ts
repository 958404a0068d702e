/**
 * Starts the Exchange of an incoming request: its id, the client's disconnect signal, the client's
 * Authorization (forwarded only when the proxy does not check keys itself and it is not an admin
 * key: those are our keys, not the upstream's) and where its log row goes.
 */
import { configSecrets, redact } from "../config/secrets.ts";
import { Exchange } from "../pipeline/exchange.ts";
import type { Runtime } from "../runtime.ts";
import type { RequestLogRow } from "../store/request-log.ts";
import { errorResponse, ProxyError, type ErrorProtocol } from "./errors.ts";
import { requestIdOf } from "./request-id.ts";

/** The row with the proxy's secrets removed from its free-text fields (error and bodies). */
function redactRow(row: RequestLogRow, secrets: readonly string[]): RequestLogRow {
  if (secrets.length === 0) return row;
  for (const field of ["error", "request_body", "response_body"] as const) {
    const text = row[field];
    if (text) row[field] = redact(text, secrets);
  }
  return row;
}

/** A request that ended as "client disconnected" while shutdown was cutting was cut by the proxy: 503 and why. */
function markCut(row: RequestLogRow, cutting: string | undefined): RequestLogRow {
  if (cutting && row.status === 499) Object.assign(row, { status: 503, error: cutting });
  return row;
}

export function startExchange(runtime: Runtime, request: Request, endpoint: string): Exchange {
  const log = runtime.requestLog;
  return new Exchange({
    requestId: requestIdOf(request),
    endpoint,
    method: request.method,
    signal: request.signal,
    clientAuthorization: runtime.state.keys.enabled || runtime.state.keys.presentsAdminKey(request.headers) ? null : request.headers.get("authorization"),
    record: (row) => {
      markCut(row, runtime.cutting);
      runtime.metrics.observe(row);
      log?.record(redactRow(row, configSecrets(runtime.state.config)));
    },
    conversationId: request.headers.get("x-conversation-id"),
  });
}

/**
 * Runs `work` for `exchange` and turns what it throws into an error response in `protocol`, with
 * a log row: 499 when the client went away, the ProxyError's status, else 502. A row `work` held
 * (Exchange.hold) is recorded here, with the failure when there is one.
 */
export async function answer(exchange: Exchange, protocol: ErrorProtocol, work: () => Promise<Response>): Promise<Response> {
  try {
    const response = await work();
    exchange.release();
    return response;
  } catch (err) {
    const failure = exchange.signal?.aborted
      ? new ProxyError(499, "client disconnected", "invalid_request_error", "client_disconnected")
      : err instanceof ProxyError
        ? err
        : new ProxyError(502, `upstream request failed: ${(err as Error)?.message ?? err}`, "upstream_error");
    exchange.finish({ status: failure.status, error: failure.message });
    exchange.release({ status: failure.status, error: failure.message });
    return errorResponse(failure, protocol, exchange.responseHeaders);
  }
}
