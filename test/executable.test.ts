/**
 * Smoke test of the compiled executable (x64): builds dist/llm-proxy-linux-x64 when it is missing,
 * starts it against a fake upstream with a temp config, calls /health and one chat completion with
 * the openai SDK, and stops it by PID.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { stringify } from "yaml";
import { buildTarget, outfileFor } from "../scripts/build.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";

const BINARY = outfileFor("linux-x64");

let upstream: FakeOpenAIUpstream;
let dir: string;
let proc: ReturnType<typeof Bun.spawn> & { stdout: ReadableStream<Uint8Array> };
let url: string;

/** Reads the process's stdout until the "listening on" line and returns the URL it names. */
async function listeningUrl(stdout: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`executable exited or timed out before listening; stdout: ${text}`);
      text += decoder.decode(value, { stream: true });
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (match) return match[1]!;
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}

beforeAll(async () => {
  if (!existsSync(BINARY)) await buildTarget("linux-x64");
  upstream = new FakeOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), "llm-proxy-exe-"));
  const config = join(dir, "llm-proxy.yaml");
  writeFileSync(config, stringify({ data_dir: join(dir, "data"), upstreams: [{ name: "fake", base_url: upstream.url }] }));
  proc = Bun.spawn([BINARY, "--config", config, "--host", "127.0.0.1", "--port", "0"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "inherit",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ORT_DISABLE_TELEMETRY: "1", NODE_ENV: "production" },
  });
  url = await listeningUrl(proc.stdout, 10_000);
}, 120_000);

afterAll(() => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("compiled executable", () => {
  test("--version prints the package version", async () => {
    const pkg = await Bun.file(join(import.meta.dir, "..", "package.json")).json();
    const out = Bun.spawnSync([BINARY, "--version"]);
    expect(out.stdout.toString().trim()).toBe(pkg.version);
  });

  test("/health answers", async () => {
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("a chat completion goes through with the openai SDK", async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "client-key", maxRetries: 0 });
    const res = await client.chat.completions.create({ model: "fake-model", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(upstream.chatRequests.at(-1)!.body.model).toBe("fake-model");
  });

  test("SIGTERM to its PID stops it cleanly", async () => {
    process.kill(proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
