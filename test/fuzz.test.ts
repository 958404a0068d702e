/**
 * A small, deterministic run of the fuzzer (bench/fuzz.ts runs 10,000 bodies per front, with long
 * strings up to 16,000 characters without a space, and reports
 * event-loop stalls and memory): mutated, deeply nested, broken and odd bodies on both fronts get a
 * reply in the client's protocol and never a 5xx (the fake upstream never fails), and the proxy
 * still serves afterwards.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { FuzzBodies, sendFuzzCase, type Front, type FuzzOutcome } from "./fakes/fuzz-bodies.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const KEY = "sk-fuzz-key";
const PER_FRONT = 200;
const CONCURRENCY = 4;

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
  // Lexical selection: no embedding model to load here; bench/fuzz.ts runs hybrid.
  proxy = startProxy({ auth: { keys: [KEY] }, selection: { mode: "lexical" }, upstreams: [{ name: "fake", base_url: upstream.url, max_retries: 0 }] });
});
afterAll(() => {
  proxy.stop();
  upstream.stop();
});

async function run(front: Front, seed: number): Promise<FuzzOutcome[]> {
  const bodies = new FuzzBodies(seed, { maxRunLength: 100, maxDepth: 100_000, model: "fake-model" });
  const cases = Array.from({ length: PER_FRONT }, () => bodies.next(front));
  const outcomes: FuzzOutcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) outcomes.push(await sendFuzzCase(proxy.url, cases[next++]!, KEY));
    }),
  );
  upstream.requests.length = 0;
  return outcomes;
}

for (const [front, seed] of [["openai", 7], ["ollama", 11]] as const) {
  test(`${front} front: ${PER_FRONT} fuzzed bodies, each answered in the client's protocol, none with a 5xx`, async () => {
    const outcomes = await run(front, seed);
    expect(outcomes.length).toBe(PER_FRONT);
    const problems = outcomes.filter((o) => o.problem).map((o) => `${o.fuzz.kind} ${o.fuzz.path}: ${o.problem} <- ${o.fuzz.body.slice(0, 200)}`);
    expect(problems).toEqual([]);
    // The mix reaches both the upstream and the proxy's own refusals.
    const statuses = new Set(outcomes.map((o) => o.status));
    expect(statuses.has(200)).toBe(true);
    expect(statuses.has(400)).toBe(true);
    expect((await fetch(`${proxy.url}/health`)).status).toBe(200);
    expect(proxy.rows().filter((r) => (r.status ?? 0) >= 500)).toEqual([]);
  }, 60_000);
}
