/**
 * Starts the Exchange of an incoming request: its id, the client's disconnect signal, the client's
 * Authorization (forwarded only when the proxy does not check keys itself: then it is our key,
 * not the upstream's) and where its log row goes.
 */
import { Exchange } from "../pipeline/exchange.ts";
import type { Runtime } from "../runtime.ts";
import { requestIdOf } from "./request-id.ts";

export function startExchange(runtime: Runtime, request: Request, endpoint: string): Exchange {
  const log = runtime.requestLog;
  return new Exchange({
    requestId: requestIdOf(request),
    endpoint,
    method: request.method,
    signal: request.signal,
    clientAuthorization: runtime.state.keys.enabled ? null : request.headers.get("authorization"),
    record: log ? (row) => log.record(row) : undefined,
  });
}
