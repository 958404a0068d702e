/**
 * A Home Assistant day for the cache benchmarks (bench/cache-replay.ts, bench/cache-ablation.ts),
 * drawn deterministically from ../shared/datasets/tool-selection/dev.jsonl.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const shared = join(import.meta.dir, "../../shared");

export interface DevRecord {
  id: string;
  messages: { role: string; content: string }[];
  expected: string[];
  all?: boolean;
  source: string;
  category?: string;
}

/** mulberry32: a small seeded PRNG, so every run replays the same day. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Step {
  record: DevRecord;
  messages: { role: string; content: string }[];
  /** Scored for recall (the last turn of a record). */
  scored: boolean;
}

/** The day: `n` single commands drawn from the intents-derived records, 4 MCP requests, and the multi-turn conversations turn by turn, interleaved. */
export function haDay(n: number): Step[] {
  const records = devRecords();
  const random = rng(7);
  const shuffle = <T>(xs: T[]) => xs.map((x) => [random(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
  const singles = shuffle(records.filter((r) => r.source.startsWith("intents:"))).slice(0, n);
  const mcp = shuffle(records.filter((r) => r.category === "mcp")).slice(0, 4);
  const multi = records.filter((r) => r.category === "multi_turn");
  const steps: Step[] = singles.map((record) => ({ record, messages: record.messages, scored: true }));
  const extra = [...mcp.map((record) => [{ record, messages: record.messages, scored: true }]), ...multi.map((record) => [
    { record, messages: record.messages.slice(0, 1), scored: false },
    { record, messages: record.messages, scored: true },
  ])];
  // Spread the extra conversations evenly through the day.
  extra.forEach((s, i) => steps.splice(Math.floor(((i + 1) * steps.length) / (extra.length + 1)) + i, 0, ...s));
  return steps;
}


function devRecords(): DevRecord[] {
  return readFileSync(join(shared, "datasets/tool-selection/dev.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Every dev record in a shuffled order, multi-turn ones turn by turn: a long, varied "day". */
export function devSequence(): Step[] {
  const random = rng(11);
  const records = devRecords().map((r) => [random(), r] as const).sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  return records.flatMap((record) =>
    record.messages.length > 1 ? [{ record, messages: record.messages.slice(0, 1), scored: false }, { record, messages: record.messages, scored: true }] : [{ record, messages: record.messages, scored: true }],
  );
}

/**
 * Recall over the scored steps (dataset README: one expected tool kept, all of them for `all`);
 * records whose expected tools are not all in `toolNames` are left out.
 * @returns [hits, scored]
 */
export function recall(steps: Step[], kept: (i: number) => Iterable<string>, toolNames: Set<string>): [number, number] {
  let hits = 0;
  let scored = 0;
  steps.forEach((s, i) => {
    const expected = s.record.expected.filter((e) => toolNames.has(e));
    if (!s.scored || expected.length === 0 || (s.record.all && expected.length < s.record.expected.length)) return;
    scored++;
    const k = new Set(kept(i));
    if (s.record.all ? expected.every((e) => k.has(e)) : expected.some((e) => k.has(e))) hits++;
  });
  return [hits, scored];
}
