/**
 * SIGTERM drains: the listener closes at once, requests in flight run to their end within
 * `server.shutdown_grace_ms`, the request log is flushed, and the process exits 0. What is still
 * running when the grace period ends is cut, and its row says the proxy cut it (503), not that the
 * client left (499). Once: SIGTERM cut every stream (ECONNRESET) and logged each as 499.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";

let upstream: FakeOpenAIUpstream;
const dirs: string[] = [];

beforeAll(() => {
  upstream = new FakeOpenAIUpstream({ models: ["fake-model"] });
});
afterAll(() => {
  upstream.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts the real CLI with `server` settings; resolves once it listens. */
async function startCli(server: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-shutdown-"));
  dirs.push(dir);
  const config = join(dir, "llm-proxy.yaml");
  writeFileSync(config, stringify({ server: { port: 0, ...server }, upstreams: [{ name: "fake", base_url: upstream.url, models: ["fake-model"] }] }));
  const proc = Bun.spawn(["bun", join(import.meta.dir, "../index.ts"), "--config", config, "--data-dir", join(dir, "data")], { stdout: "pipe", stderr: "pipe" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`proxy exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const url = /listening on (\S+)/.exec(out)![1]!;
  // The rest of stdout, read until the process exits.
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += new TextDecoder().decode(value);
    }
  })();
  const rows = () => {
    const db = new Database(join(dir, "data", "llm-proxy.sqlite"), { readonly: true });
    try {
      return db.query("SELECT status, upstream_status, error FROM requests ORDER BY id").all() as { status: number; upstream_status: number | null; error: string | null }[];
    } finally {
      db.close();
    }
  };
  return { proc, url, rows, stdout: () => rest };
}

const streamRequest = (url: string) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "hi" }] }) });

describe("SIGTERM", () => {
  test("streams in flight finish, new connections are refused, the row is flushed, exit 0", async () => {
    const cli = await startCli({ shutdown_grace_ms: 20_000 });
    upstream.script.push({ content: "one two three four five six seven eight", chunks: 8, chunkDelayMs: 100 });
    const res = await streamRequest(cli.url);
    expect(res.status).toBe(200);
    const body = res.text();
    cli.proc.kill("SIGTERM");
    await Bun.sleep(100);
    expect(await fetch(`${cli.url}/health`).then((r) => r.status, (e) => e.code)).toBe("ECONNREFUSED");
    const text = await body;
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(await cli.proc.exited).toBe(0);
    expect(await cli.stdout()).toContain("every request finished");
    expect(cli.rows()).toEqual([{ status: 200, upstream_status: 200, error: null }]);
  }, 30_000);

  test("what is still running after the grace period is cut and logged as cut by the proxy", async () => {
    const cli = await startCli({ shutdown_grace_ms: 300 });
    upstream.script.push({ content: "a long answer in very many small pieces", chunks: 40, chunkDelayMs: 100 });
    const res = await streamRequest(cli.url);
    const body = res.text().catch((e) => e);
    await Bun.sleep(100);
    cli.proc.kill("SIGTERM");
    cli.proc.kill("SIGTERM"); // systemd may signal twice (main process and control group)
    const got = await body;
    expect(typeof got === "string" && got.endsWith("data: [DONE]\n\n")).toBe(false);
    expect(await cli.proc.exited).toBe(0);
    expect(await cli.stdout()).toContain("cut 1 request(s)");
    expect(cli.rows()).toEqual([{ status: 503, upstream_status: 200, error: expect.stringContaining("shutdown grace period") }]);
  }, 30_000);
});
