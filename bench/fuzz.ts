/**
 * Fuzzes both fronts of the proxy (docs/security.md, "Fuzzing"): N generated bodies per front
 * (test/fakes/fuzz-bodies.ts: mutated, nested up to 100,000 deep, long strings without spaces,
 * tools without names or text, broken JSON) sent at a fixed concurrency to the proxy running from
 * source in its own process, with an API key, hybrid tool selection (the offline embedding model)
 * and the request log on, in front of a fake upstream that never fails. Reports per front: replies
 * by status, 5xx (all the proxy's own, since the upstream never fails), errors not in the client's
 * protocol, the slowest replies; for the run: event-loop stalls over 100 ms (and, for a closer look,
 * over 50 ms) in the proxy (from bench/stall-monitor.ts) and its peak RSS.
 *
 *   bun bench/fuzz.ts [--per-front 10000] [--concurrency 8] [--seed 1] [--max-run 16000]
 *                     [--timeout-ms 60000] [--models-dir ../shared/models]
 *                     [--config JSON]   (merged over the bench's config, section by section, e.g.
 *                                        '{"compression":{"mode":"off"}}' for an ablation)
 *
 * A stall is a 10 ms timer firing over 100 ms late while the main thread itself used at least
 * half of that time on the CPU (a blocked event loop); a late timer without that CPU is the OS not
 * scheduling the process on a loaded machine, and is counted apart; so is a stall that began before
 * the proxy printed that it listens (its own start-up, which no request caused).
 *
 * Exit code 1 when a target is missed: any 5xx or protocol violation, any stall, RSS over 300 MiB.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { FuzzBodies, sendFuzzCase, type Front, type FuzzOutcome } from "../test/fakes/fuzz-bodies.ts";
import { FakeOpenAIUpstream } from "../test/fakes/openai-upstream.ts";
import { startServer } from "./process.ts";

const ROOT = join(import.meta.dir, "..");
const KEY = "sk-fuzz-bench";
const RSS_TARGET_MIB = 300;

const { values: opts } = parseArgs({
  options: {
    "per-front": { type: "string", default: "10000" },
    concurrency: { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    "max-run": { type: "string", default: "16000" },
    "timeout-ms": { type: "string", default: "60000" },
    "models-dir": { type: "string", default: join(ROOT, "..", "shared", "models") },
    config: { type: "string", default: "{}" },
  },
});
const PER_FRONT = Number(opts["per-front"]);
const CONCURRENCY = Number(opts.concurrency);
const SEED = Number(opts.seed);
const TIMEOUT_MS = Number(opts["timeout-ms"]);
const MODELS_DIR = opts["models-dir"];

const dir = mkdtempSync(join(tmpdir(), "llm-proxy-fuzz-"));
const stallLog = join(dir, "stalls.log");
writeFileSync(stallLog, "");
const upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
const hybrid = existsSync(join(MODELS_DIR, "universal-sentence-encoder-lite-en"));
const selection = hybrid ? { mode: "hybrid", embedding_model: "universal-sentence-encoder-lite-en", models_dir: MODELS_DIR } : { mode: "lexical" };
const config: Record<string, unknown> = { auth: { keys: [KEY] }, selection, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] };
writeFileSync(join(dir, "llm-proxy.yaml"), stringify(mergeConfig(config, JSON.parse(opts.config!) as Record<string, unknown>)));

const proxy = await startServer(
  ["bun", "--preload", join(import.meta.dir, "stall-monitor.ts"), join(ROOT, "index.ts"), "--config", join(dir, "llm-proxy.yaml"), "--port", "0", "--data-dir", join(dir, "data")],
  { ORT_DISABLE_TELEMETRY: "1", NODE_ENV: "production", LLM_PROXY_STALL_LOG: stallLog },
);
const peak = proxy.samplePeak();
const proxyListening = Date.now();
const started = performance.now();

/** `extra` over `base`: a section given in both is merged key by key (one level), any other key replaces. */
function mergeConfig(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const isSection = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const merged = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const old = merged[key];
    merged[key] = isSection(old) && isSection(value) ? { ...old, ...value } : value;
  }
  return merged;
}

/** Sends one case, giving up after TIMEOUT_MS (a hang is a finding too). */
async function send(fuzz: ReturnType<FuzzBodies["next"]>): Promise<FuzzOutcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<FuzzOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ fuzz, status: 0, ms: TIMEOUT_MS, problem: `no reply within ${TIMEOUT_MS} ms` }), TIMEOUT_MS);
  });
  try {
    return await Promise.race([sendFuzzCase(proxy.url, fuzz, KEY), hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function fuzz(front: Front, seed: number) {
  const bodies = new FuzzBodies(seed, { maxRunLength: Number(opts["max-run"]), maxDepth: 100_000, model: "fake-model" });
  const outcomes: FuzzOutcome[] = [];
  let made = 0;
  const frontStarted = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (made < PER_FRONT) {
        made++;
        outcomes.push(await send(bodies.next(front)));
        // The fake upstream records every request; these runs do not need them.
        if (upstream.requests.length > 100) upstream.requests.length = 0;
      }
    }),
  );
  return { front, outcomes, seconds: (performance.now() - frontStarted) / 1000 };
}

const results = [await fuzz("openai", SEED), await fuzz("ollama", SEED + 1)];
const peakMiB = peak();
const health = (await fetch(`${proxy.url}/health`).then((r) => r.status).catch(() => 0)) === 200;
await proxy.stop();
upstream.stop();
const late = readFileSync(stallLog, "utf8").trim().split("\n").filter(Boolean).map((l) => l.split(" ").map(Number) as [number, number, number]);
/** Late while the main thread was busy for at least half of the time: the event loop was blocked. */
// A stall that began before the proxy said it was listening is its start-up (module loading), not a request's doing.
const startup = late.filter(([t, ms, cpu]) => cpu >= ms / 2 && t - ms < proxyListening).map(([, ms]) => ms);
const blockedAt = late.filter(([t, ms, cpu]) => cpu >= ms / 2 && t - ms >= proxyListening);
const blocked = blockedAt.map(([, ms]) => ms);
const stalls = blocked.filter((ms) => ms > 100);
const descheduled = late.filter(([, ms, cpu]) => cpu < ms / 2 && ms > 100).map(([, ms]) => ms);
rmSync(dir, { recursive: true, force: true });

console.log(`# llm-proxy fuzz: ${PER_FRONT} bodies per front, concurrency ${CONCURRENCY}, seed ${SEED}, strings without spaces up to ${opts["max-run"]} characters, selection ${selection.mode}${opts.config === "{}" ? "" : `, config ${opts.config}`}`);
console.log(`# load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(" ")}; ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`);
console.log("| front | bodies | s | 2xx | 4xx | 5xx | not in protocol / no reply | slowest reply ms | statuses |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---|");
let failed = false;
for (const { front, outcomes, seconds } of results) {
  const count = (test: (o: FuzzOutcome) => boolean) => outcomes.filter(test).length;
  const statuses = new Map<number, number>();
  for (const o of outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
  const fivexx = count((o) => o.status >= 500);
  const other = count((o) => o.problem !== undefined && o.status < 500);
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  failed ||= fivexx > 0 || other > 0;
  const list = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(", ");
  console.log(`| ${front} | ${outcomes.length} | ${seconds.toFixed(0)} | ${count((o) => o.status >= 200 && o.status < 300)} | ${count((o) => o.status >= 400 && o.status < 500)} | ${fivexx} | ${other} | ${slowest.toFixed(0)} | ${list} |`);
  for (const o of outcomes.filter((x) => x.problem).slice(0, 5)) console.log(`  - ${o.fuzz.kind} ${o.fuzz.path}: ${o.problem!.slice(0, 200)} <- ${o.fuzz.body.slice(0, 120)}`);
  const slow = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 3);
  for (const o of slow) console.log(`  - slow: ${o.ms.toFixed(0)} ms, ${o.fuzz.kind}, ${o.fuzz.body.length} bytes, HTTP ${o.status}`);
}
const worst = stalls.length ? Math.max(...stalls) : 0;
console.log(`\nevent-loop stalls over 100 ms in the proxy (main thread busy): ${stalls.length}${stalls.length ? ` (worst ${worst} ms, total ${stalls.reduce((a, b) => a + b, 0)} ms)` : ""}`);
if (startup.length) console.log(`(start-up, before listening: the event loop was held ${startup.join(", ")} ms; not counted)`);
const worstAt = [...blockedAt].sort((a, b) => b[1] - a[1]).slice(0, 8);
console.log(`event-loop stalls over 50 ms (main thread busy): ${blocked.length}${blocked.length ? ` (${worstAt.map(([t, ms]) => `${ms} ms at +${((t - proxyListening) / 1000).toFixed(1)} s`).join(", ")})` : ""}`);
console.log(`timers over 100 ms late without the CPU to show for it (process not scheduled): ${descheduled.length}${descheduled.length ? ` (worst ${Math.max(...descheduled)} ms)` : ""}`);
console.log(`peak RSS of the proxy: ${peakMiB.toFixed(0)} MiB (target < ${RSS_TARGET_MIB}); /health after the run: ${health ? "200" : "FAILED"}`);
failed ||= stalls.length > 0 || peakMiB >= RSS_TARGET_MIB || !health;
process.exit(failed ? 1 : 0);
