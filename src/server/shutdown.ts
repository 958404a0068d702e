/**
 * Graceful stop (SIGTERM, SIGINT): stop accepting connections, let the requests in flight finish for
 * up to `server.shutdown_grace_ms`, then cut what is left, flush the request log and close.
 *
 * A request the proxy cuts is logged as 503 with an error naming the shutdown, not as a client that
 * went away (499): the tap and answer() see the same abort either way, so the runtime's `cutting`
 * flag tells the log which one it was (context.ts).
 */
import type { Server } from "bun";
import type { Runtime } from "../runtime.ts";

/** How long the cut connections get to unwind (abort handlers, log rows) before the log is closed. */
const UNWIND_MS = 1_000;
/** After the sockets are closed: a few event-loop turns for the last handlers. */
const UNWIND_TAIL_MS = 50;

export type ShutdownOutcome = { drained: true } | { drained: false; cut: number };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Drains `server` and closes `runtime`. Never throws.
 * @param graceMs how long requests in flight may run on, ms
 * @returns whether everything finished in time, or how many requests were cut
 */
export async function shutdown(server: Server<unknown>, runtime: Runtime, graceMs: number): Promise<ShutdownOutcome> {
  const stopped = server.stop(false);
  const drained = await Promise.race([stopped.then(() => true), sleep(graceMs).then(() => false)]);
  let outcome: ShutdownOutcome = { drained: true };
  if (!drained) {
    outcome = { drained: false, cut: server.pendingRequests };
    runtime.cutting = `cut by llm-proxy: still running when the shutdown grace period (server.shutdown_grace_ms = ${graceMs} ms) ended`;
    // The cut streams' cancel and abort handlers write their rows a little after the sockets close.
    await Promise.race([server.stop(true).then(() => sleep(UNWIND_TAIL_MS)), sleep(UNWIND_MS)]);
  }
  await runtime.close();
  return outcome;
}
