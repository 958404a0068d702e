/**
 * Memory and event-loop cost of tool selection's language detector (src/selection/language.ts):
 * RSS and main-thread JS heap (bun:jsc heapStats) of this process at start, with the detector's
 * Worker running after one German request, and after its idle exit; the time that request took and
 * the longest event-loop gap meanwhile (a 5 ms interval's lateness). Results in docs/benchmarks.md,
 * "Language detector in a Worker". Run it in a fresh process: `bun bench/language-detector.ts [--idle-ms 200]`.
 */
import { heapStats } from "bun:jsc";
import { parseArgs } from "node:util";
import { foreignLanguage, LanguageDetector, toolLanguage } from "../src/selection/language.ts";

const { values } = parseArgs({ options: { "idle-ms": { type: "string", default: "200" } } });
const detector = new LanguageDetector({ idleMs: Number(values["idle-ms"]) });
const tools = toolLanguage(["HassTurnOn", "Turns on a device or entity", "HassTurnOff", "Turns off a device or entity"]);
const sample = () => {
  Bun.gc(true);
  return { rss: (process.memoryUsage.rss() / 2 ** 20).toFixed(1), heap: (heapStats().heapSize / 1e6).toFixed(1) };
};

const start = sample();
let last = performance.now();
let maxGap = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - last - 5);
  last = now;
}, 5);
const t0 = performance.now();
const language = await foreignLanguage("zeig mir bitte die letzten Nachrichten aus dem Kanal", tools, detector);
const firstMs = performance.now() - t0;
clearInterval(ticker);
const running = sample();
while (detector.running()) await Bun.sleep(50);
await Bun.sleep(200);
const exited = sample();

console.log(`detected: ${language}; first detection ${firstMs.toFixed(0)} ms (Worker start and load), longest event-loop gap ${maxGap.toFixed(0)} ms\n`);
console.log("| state | RSS MiB | main JS heap MB |\n| --- | ---: | ---: |");
for (const [name, s] of [["start", start], ["Worker running", running], ["after idle exit", exited]] as const) console.log(`| ${name} | ${s.rss} | ${s.heap} |`);
