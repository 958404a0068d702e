/**
 * Preloaded into a server process (`bun --preload bench/stall-monitor.ts index.ts ...`) by
 * bench/fuzz.ts: a 10 ms timer measures how late it fires. Every lateness over 50 ms is appended
 * to the file named by LLM_PROXY_STALL_LOG as "<ms since epoch> <late ms> <main-thread CPU ms>":
 * the main thread's own CPU time in that interval (process.threadCpuUsage) tells a blocked event
 * loop (CPU ≈ lateness) from a process the OS did not schedule on a loaded machine (CPU ≪ lateness).
 */
import { appendFileSync } from "node:fs";

const file = process.env.LLM_PROXY_STALL_LOG;
/** Stalls shorter than this are not reported: the fuzzers' target is no stall over 100 ms, and those over 50 ms are looked into. */
const REPORT_OVER_MS = 50;
const TICK_MS = 10;

const threadCpuMs = () => {
  const { user, system } = (process as unknown as { threadCpuUsage(): { user: number; system: number } }).threadCpuUsage();
  return (user + system) / 1000;
};

if (file) {
  let expected = performance.now() + TICK_MS;
  let cpu = threadCpuMs();
  setInterval(() => {
    const now = performance.now();
    const nowCpu = threadCpuMs();
    const late = now - expected;
    if (late > REPORT_OVER_MS) appendFileSync(file, `${Date.now()} ${Math.round(late)} ${Math.round(nowCpu - cpu)}\n`);
    expected = now + TICK_MS;
    cpu = nowCpu;
  }, TICK_MS).unref();
}
