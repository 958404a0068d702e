/**
 * Preloaded into a server process (`bun --preload bench/stall-monitor.ts index.ts ...`) by
 * bench/fuzz.ts: a 10 ms timer measures how late it fires; every lateness over 100 ms (the event
 * loop was blocked that long) is appended to the file named by LLM_PROXY_STALL_LOG, one line each:
 * "<ms since epoch> <stall ms>".
 */
import { appendFileSync } from "node:fs";

const file = process.env.LLM_PROXY_STALL_LOG;
/** Stalls shorter than this are not reported: the fuzzers' target is no stall over 100 ms. */
const REPORT_OVER_MS = 100;
const TICK_MS = 10;

if (file) {
  let expected = performance.now() + TICK_MS;
  setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late > REPORT_OVER_MS) appendFileSync(file, `${Date.now()} ${Math.round(late)}\n`);
    expected = now + TICK_MS;
  }, TICK_MS).unref();
}
