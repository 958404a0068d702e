/**
 * How far the token estimate (src/selection/tokens.ts) is from js-tiktoken's exact o200k_base count,
 * and what each costs (`bun bench/token-estimate.ts`; results in docs/benchmarks.md).
 *
 * Rows: the minified JSON of every tool of each tool set in ../shared/datasets (per set: the sum's
 * error, and the spread of the per-tool error), then texts a client could send on purpose (long
 * runs without spaces, deep nesting, other scripts), with the time each method takes on them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tiktoken } from "js-tiktoken/lite";
import o200k from "js-tiktoken/ranks/o200k_base";
import { estimateTokens } from "../src/selection/tokens.ts";

const DATA = join(import.meta.dir, "..", "..", "shared", "datasets");
const SETS = {
  "Home Assistant Assist": join(DATA, "tool-selection/tools/ha-assist.json"),
  "extra MCP servers": join(DATA, "tool-selection/tools/extra-mcp.json"),
  "general tools": join(DATA, "tool-selection-general/tools.json"),
};

const encoder = new Tiktoken(o200k);
const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;

function timed<T>(fn: () => T): [T, number] {
  const started = performance.now();
  const value = fn();
  return [value, performance.now() - started];
}

console.log("### Tool sets: estimate vs o200k_base (minified JSON of each tool)\n");
console.log(row(["tool set", "tools", "o200k tokens", "estimate", "error of the sum", "per-tool error min / RMS / max"]));
console.log(row(["---", "---", "---", "---", "---", "---"]));
let allExact = 0;
let allEstimate = 0;
const allErrors: number[] = [];
for (const [name, file] of Object.entries(SETS)) {
  const tools = (JSON.parse(readFileSync(file, "utf8")) as unknown[]).map((t) => JSON.stringify(t));
  let exact = 0;
  let estimate = 0;
  const errors = tools.map((json) => {
    const e = encoder.encode(json).length;
    const g = estimateTokens(json);
    exact += e;
    estimate += g;
    return g / e - 1;
  });
  allExact += exact;
  allEstimate += estimate;
  allErrors.push(...errors);
  const rms = Math.sqrt(errors.reduce((s, x) => s + x * x, 0) / errors.length);
  console.log(row([name, tools.length, exact, estimate, pct(estimate / exact - 1), `${pct(Math.min(...errors))} / ${(100 * rms).toFixed(1)}% / ${pct(Math.max(...errors))}`]));
}
const rmsAll = Math.sqrt(allErrors.reduce((s, x) => s + x * x, 0) / allErrors.length);
console.log(row(["all", allErrors.length, allExact, allEstimate, pct(allEstimate / allExact - 1), `${pct(Math.min(...allErrors))} / ${(100 * rmsAll).toFixed(1)}% / ${pct(Math.max(...allErrors))}`]));

const random = (n: number, alphabet: string) => Array.from({ length: n }, (_, i) => alphabet[(i * 7919 + 13) % alphabet.length]).join("");
const SAMPLES: Record<string, string> = {
  "2,000 x 'd'": "d".repeat(2000),
  "8,000 x 'd'": "d".repeat(8000),
  "JSON nested 500 deep": `${'{"a":'.repeat(500)}1${"}".repeat(500)}`,
  "base64-like, 4,000 chars": random(4000, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
  "hex, 4,000 chars": random(4000, "0123456789abcdef"),
  "German prose": "Schaltet das Licht im Wohnzimmer ein oder aus. Verwenden Sie dieses Werkzeug, um Geräte in einem bestimmten Bereich zu steuern. ".repeat(8),
  "Russian prose": "Включает или выключает свет в гостиной. Используйте этот инструмент для управления устройствами. ".repeat(8),
  "Chinese prose": "打开客厅的灯。使用此工具控制特定区域中的设备，例如厨房的吊灯。".repeat(10),
};
console.log("\n### Texts a client could send: estimate vs o200k_base, and the time each takes\n");
console.log(row(["text", "chars", "o200k tokens", "estimate", "error", "js-tiktoken ms", "estimate ms"]));
console.log(row(["---", "---", "---", "---", "---", "---", "---"]));
for (const [name, text] of Object.entries(SAMPLES)) {
  const [exact, exactMs] = timed(() => encoder.encode(text).length);
  const [estimate, estimateMs] = timed(() => estimateTokens(text));
  console.log(row([name, text.length, exact, estimate, pct(estimate / exact - 1), exactMs.toFixed(1), estimateMs.toFixed(2)]));
}
