/**
 * The request log read back with bun:sqlite: one row per request with its figures, bodies only when
 * log.bodies is on (secrets redacted), retention by age and rows, and a broken log that never fails
 * a request. Tool decisions are stored once per distinct list, pruned with the last row naming them,
 * and rows of a log written before that still read.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { RequestLog, type RequestLogRow } from "../src/store/request-log.ts";
import { RequestLogReader } from "../src/store/request-log-reader.ts";
import { openDatabase, RequestLogWriter, rowValues } from "../src/store/request-log-writer.ts";
import { MIGRATIONS } from "../src/store/migrations.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const UPSTREAM_KEY = "sk-upstream-logged-nowhere";
const INBOUND_KEY = "sk-inbound-logged-nowhere";
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hello log" }];

let upstream: FakeOpenAIUpstream;

beforeAll(() => {
  upstream = new FakeOpenAIUpstream();
});
afterAll(() => upstream.stop());

/** Runs `body` with a fresh data directory, removed afterwards. */
function inDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-log-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `body` against a proxy started with `config`, then stops the proxy. */
async function withProxy(config: Record<string, unknown>, body: (proxy: TestProxy, client: OpenAI) => Promise<void>) {
  const proxy = startProxy({ upstreams: [{ name: "fake", base_url: upstream.url, api_key: UPSTREAM_KEY, retry_base_delay_ms: 1, max_retries: 2 }], ...config });
  const apiKey = (config.auth as { keys?: string[] } | undefined)?.keys?.[0] ?? "client-key";
  try {
    await body(proxy, new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey, maxRetries: 0 }));
  } finally {
    proxy.stop();
  }
}

describe("rows", () => {
  test("non-streaming, streaming and failed requests each leave one row with their figures", async () => {
    await withProxy({}, async (proxy, client) => {
      const plain = await client.chat.completions.create({ model: "fake-model", messages });
      const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true, stream_options: { include_usage: true } });
      for await (const _ of stream);
      upstream.script.push({ status: 502 });
      await client.chat.completions.create({ model: "fake-model", messages });
      await client.chat.completions.create({ model: "missing-model", messages }).catch(() => {});

      // Read the file itself, as an operator would, not through the proxy's handle.
      proxy.runtime.requestLog!.flush();
      const db = new Database(proxy.runtime.requestLog!.path, { readonly: true });
      const rows = db.query("SELECT * FROM requests ORDER BY id").all() as (RequestLogRow & { id: number })[];
      expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
      expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(MIGRATIONS.length);
      db.close();

      expect(rows.length).toBe(4);
      const [first, second, third, fourth] = rows;
      expect(first).toMatchObject({
        endpoint: "/v1/chat/completions", method: "POST", client_model: "fake-model", upstream: "fake", upstream_model: "fake-model",
        status: 200, stream: 0, retries: 0, error: null, finish_reason: "stop",
        prompt_tokens: plain.usage!.prompt_tokens, completion_tokens: plain.usage!.completion_tokens,
        request_body: null, response_body: null,
      });
      expect(first!.request_id).toBe(plain._request_id ?? first!.request_id);
      expect(first!.ttfb_ms!).toBeGreaterThan(0);
      expect(first!.latency_ms!).toBeGreaterThanOrEqual(first!.ttfb_ms!);
      expect(first!.ts).toBeGreaterThan(Date.now() - 60_000);
      expect(second).toMatchObject({ status: 200, stream: 1, finish_reason: "stop", prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
      expect(third).toMatchObject({ status: 200, retries: 1 });
      expect(fourth).toMatchObject({ status: 404, client_model: "missing-model", upstream: null, ttfb_ms: null });
      expect(fourth!.error).toContain("does not exist");
    });
  });
});

describe("bodies", () => {
  test("are stored when log.bodies is on, with secrets redacted", async () => {
    await withProxy({ log: { bodies: true }, auth: { keys: [INBOUND_KEY] } }, async (proxy, client) => {
      const res = await client.chat.completions.create({
        model: "fake-model",
        messages: [{ role: "user", content: `keys: ${INBOUND_KEY} and ${UPSTREAM_KEY}` }],
        metadata: { api_key: "sk-in-a-field-named-api_key" },
      } as any);
      const row = proxy.rows().at(-1)!;
      const request = JSON.parse(row.request_body!);
      expect(request.model).toBe("fake-model");
      expect(request.messages[0].content).toBe("keys: *** and ***");
      expect(request.metadata.api_key).toBe("***");
      expect(JSON.parse(row.response_body!).choices[0].message.content).toBe(res.choices[0]!.message.content);
      const all = JSON.stringify(proxy.rows());
      for (const secret of [INBOUND_KEY, UPSTREAM_KEY, "sk-in-a-field-named-api_key"]) expect(all).not.toContain(secret);
    });
  });
});

describe("retention", () => {
  const row = (ts: number, n: number): RequestLogRow => ({ ts, request_id: `r${n}`, endpoint: "/v1/chat/completions", method: "POST" });
  const ids = (log: RequestLog) => {
    // Not read-only: the log's Worker may be opening the file at the same moment, and a read-only
    // connection cannot wait for the WAL files it needs.
    const db = new Database(log.path);
    db.exec("PRAGMA busy_timeout = 2000");
    try {
      return (db.query("SELECT request_id FROM requests ORDER BY id").all() as { request_id: string }[]).map((r) => r.request_id);
    } finally {
      db.close();
    }
  };

  test("rows older than retention_days are pruned", () => {
    inDir((dataDir) => {
      const log = new RequestLog({ dataDir, retentionDays: 1, retentionRows: 0 });
      const now = Date.now();
      log.record(row(now - 3 * 86_400_000, 1));
      log.record(row(now - 2 * 86_400_000, 2));
      log.record(row(now - 1000, 3));
      log.flush();
      expect(ids(log)).toEqual(["r3"]);
      log.close();
    });
  });

  test("only the newest retention_rows rows are kept", () => {
    inDir((dataDir) => {
      const log = new RequestLog({ dataDir, retentionDays: 0, retentionRows: 3 });
      for (let n = 1; n <= 5; n++) log.record(row(Date.now(), n));
      log.flush();
      expect(ids(log)).toEqual(["r3", "r4", "r5"]);
      log.close();
    });
  });

  test("migrations are applied once: reopening a database keeps its rows", () => {
    inDir((dataDir) => {
      const first = new RequestLog({ dataDir });
      first.record(row(Date.now(), 1));
      first.close();
      const again = new RequestLog({ dataDir });
      expect(ids(again)).toEqual(["r1"]);
      again.close();
    });
  });
});

describe("shared tool decisions", () => {
  /** 12 tools, one of which matches "turn on the kitchen light". */
  const tools = Array.from({ length: 12 }, (_, i) => ({
    type: "function" as const,
    function: { name: i === 3 ? "light_turn_on" : `unrelated_${i}`, description: i === 3 ? "Turn on a light" : `Does unrelated thing number ${i}`, parameters: { type: "object", properties: {} } },
  }));
  const ask = (content: string) => ({ model: "fake-model", messages: [{ role: "user" as const, content }], tools });
  /** Decision lists for rows: `n` tools, `kept` of them kept. */
  const decisions = (n: number, kept: number) => Array.from({ length: n }, (_, t) => ({ name: `tool_${t}`, rank: t + 1, lexical: 0.5, semantic: null, fused: 0.25, kept: t < kept, reason: t < kept ? `rank ${t + 1}` : "not in the top keep" }));
  const chatRow = (n: number, list: ReturnType<typeof decisions> | null, ts = Date.now()): RequestLogRow => ({ ts, request_id: `r${n}`, endpoint: "/v1/chat/completions", method: "POST", tool_decisions: list });
  const storedLists = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.query("SELECT id, decisions FROM tool_decision_lists ORDER BY id").all() as { id: number; decisions: string }[];
    } finally {
      db.close();
    }
  };

  test("requests with the same selection outcome share one stored list; rows and the detail view show it whole", async () => {
    await withProxy({ selection: { mode: "lexical", cache: "per_request" } }, async (proxy, client) => {
      for (let i = 0; i < 3; i++) await client.chat.completions.create(ask("turn on the kitchen light"));
      await client.chat.completions.create(ask("what is the weather tomorrow"));
      const rows = proxy.rows();
      expect(rows).toHaveLength(4);
      const lists = storedLists(proxy.runtime.requestLog!.path);
      expect(lists).toHaveLength(2);
      // The rows themselves hold only the list's id.
      const db = new Database(proxy.runtime.requestLog!.path, { readonly: true });
      const stored = db.query("SELECT tool_decisions, tool_decisions_id FROM requests ORDER BY id").all() as { tool_decisions: string | null; tool_decisions_id: number | null }[];
      db.close();
      expect(stored.map((r) => r.tool_decisions)).toEqual([null, null, null, null]);
      expect(stored.map((r) => r.tool_decisions_id)).toEqual([lists[0]!.id, lists[0]!.id, lists[0]!.id, lists[1]!.id]);
      // Read back: the same decisions as the selector made, per row.
      const [light, , , weather] = rows.map((r) => JSON.parse(r.tool_decisions as unknown as string));
      expect(light).toHaveLength(12);
      expect(light.find((d: any) => d.name === "light_turn_on")).toMatchObject({ rank: 1, kept: true });
      expect(weather).not.toEqual(light);
      expect(rows.slice(0, 3).map((r): unknown => r.tool_decisions)).toEqual([lists[0]!.decisions, lists[0]!.decisions, lists[0]!.decisions]);
      expect(rows[0]).not.toHaveProperty("tool_decisions_id");
      const detail = (await (await fetch(`${proxy.url}/admin/requests/${rows[2]!.id}`)).json()) as any;
      expect(detail.tool_decisions).toEqual(light);
      expect(detail.tools_kept).toEqual(light.filter((d: any) => d.kept).map((d: any) => d.name));
      expect(detail).not.toHaveProperty("tool_decisions_id");
    });
  });

  test("retention by rows and by age leaves no list that no row names", () => {
    inDir((dir) => {
      const path = join(dir, "llm-proxy.sqlite");
      const [a, b, c] = [decisions(5, 1), decisions(5, 2), decisions(6, 3)];
      // Pruning runs after the first write of a writer (then at most once a minute).
      const byRows = new RequestLogWriter(path, { retentionRows: 2 });
      byRows.write([chatRow(1, a), chatRow(2, b), chatRow(3, b), chatRow(4, null)].map(rowValues));
      byRows.close();
      expect(storedLists(path).map((l) => JSON.parse(l.decisions))).toEqual([b]);
      const now = Date.now();
      const byAge = new RequestLogWriter(path, { retentionDays: 1 });
      byAge.write([chatRow(5, c, now - 2 * 86_400_000), chatRow(6, a, now)].map(rowValues));
      byAge.close();
      // Rows 3 and 4 (today) keep b; row 5 (two days old) went with c; row 6 stored a again.
      expect(storedLists(path).map((l) => JSON.parse(l.decisions))).toEqual([b, a]);
      const reader = new RequestLogReader(path);
      const rows = reader.list({}).map((r) => reader.get(r.id as number)!);
      reader.close();
      expect(rows.map((r) => [r.request_id, r.tool_decisions])).toEqual([["r6", a], ["r4", null], ["r3", b]]);
    });
  });

  test("a log written before the shared lists still reads: old rows with their inline decisions, new rows with shared ones", () => {
    inDir((dir) => {
      const path = join(dir, "llm-proxy.sqlite");
      const old = decisions(4, 2);
      const fresh = decisions(4, 1);
      // The database as the release before wrote it: every migration but the last, a row with inline decisions.
      const before = new Database(path, { create: true });
      for (const migration of MIGRATIONS.slice(0, -1)) before.exec(migration);
      before.exec(`PRAGMA user_version = ${MIGRATIONS.length - 1}`);
      before.query("INSERT INTO requests (ts, request_id, endpoint, method, tool_decisions) VALUES (?, 'old', '/v1/chat/completions', 'POST', ?)").run(Date.now(), JSON.stringify(old));
      before.close();
      openDatabase(path).close();
      const writer = new RequestLogWriter(path, {});
      writer.write([chatRow(2, fresh)].map(rowValues));
      writer.close();
      const reader = new RequestLogReader(path);
      const rows = reader.list({}).map((r) => reader.get(r.id as number)!);
      reader.close();
      expect(rows.map((r) => [r.request_id, r.tool_decisions])).toEqual([["r2", fresh], ["old", old]]);
      expect(storedLists(path)).toHaveLength(1);
    });
  });
});

describe("a failing log", () => {
  test("never fails a request; the failures are counted in /health", async () => {
    await withProxy({}, async (proxy, client) => {
      // Another process breaks the database under the proxy: every write fails from now on.
      const db = new Database(proxy.runtime.requestLog!.path);
      db.exec("DROP TABLE requests");
      db.close();
      const res = await client.chat.completions.create({ model: "fake-model", messages });
      expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      const stream = await client.chat.completions.create({ model: "fake-model", messages, stream: true });
      for await (const _ of stream);
      proxy.runtime.requestLog!.flush();
      const health = (await (await fetch(`${proxy.url}/health`)).json()) as any;
      expect(health.request_log.failures).toBeGreaterThanOrEqual(2);
      expect(health.status).toBe("ok");
    });
  });
});
