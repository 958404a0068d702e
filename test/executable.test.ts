/**
 * Smoke test of the compiled executable (x64): builds dist/llm-proxy-linux-x64 when it is missing
 * or older than the sources (one build, a few seconds),
 * starts it against a fake upstream with a temp config, calls /health and one chat completion with
 * the openai SDK, fetches the dashboard page, ranks tools with the offline embedding model (native onnxruntime inside the
 * binary), runs a JavaScript MCP server with itself (BUN_BE_BUN=1), and stops it by PID.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { stringify } from "yaml";
import { buildTarget, outfileFor } from "../scripts/build.ts";
import { EVERYTHING_JS } from "./fakes/mcp-everything.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";

const BINARY = outfileFor("linux-x64");
const ROOT = join(import.meta.dir, "..");
const MODELS_DIR = join(ROOT, "..", "shared", "models");
const TOOLS_FILE = join(ROOT, "..", "shared", "datasets", "tool-selection", "tools", "ha-assist.json");

let upstream: FakeOpenAIUpstream;
let dir: string;
let proc: ReturnType<typeof Bun.spawn> & { stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array> };
/** Everything the executable wrote to stderr, once it has exited (echoed to ours as it arrives). */
let stderr: Promise<string>;
let url: string;
let mcpPid: number;

/** True when the executable is missing or a source it is built from changed after it. */
function stale(binary: string): boolean {
  if (!existsSync(binary)) return true;
  const built = statSync(binary).mtimeMs;
  const sources = ["index.ts", "package.json", "bun.lock", ...new Bun.Glob("{src,scripts}/**/*.{ts,css,html}").scanSync(ROOT)];
  return sources.some((f) => existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).mtimeMs > built);
}

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
  if (stale(BINARY)) await buildTarget("linux-x64");
  upstream = new FakeOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), "llm-proxy-exe-"));
  const config = join(dir, "llm-proxy.yaml");
  // A JavaScript MCP server run by the executable itself (BUN_BE_BUN=1): no node or bun needed.
  const servers = join(dir, "servers.yaml");
  writeFileSync(servers, stringify({ servers: { everything: { command: "${LLM_PROXY_EXECUTABLE}", args: [EVERYTHING_JS, "stdio"], env: { BUN_BE_BUN: "1" } } } }));
  writeFileSync(config, stringify({ data_dir: join(dir, "data"), upstreams: [{ name: "fake", base_url: upstream.url }], mcp_config: servers }));
  proc = Bun.spawn([BINARY, "--config", config, "--host", "127.0.0.1", "--port", "0"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ORT_DISABLE_TELEMETRY: "1",
      NODE_ENV: "production",
      LLM_PROXY_MODELS_DIR: MODELS_DIR,
      LLM_PROXY_EMBEDDING_MODEL: "universal-sentence-encoder-lite-en",
    },
  });
  stderr = (async () => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      process.stderr.write(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
    return text;
  })();
  url = await listeningUrl(proc.stdout, 10_000);
}, 120_000);

afterAll(() => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  upstream?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("compiled executable", () => {
  test("--version prints the package version", async () => {
    const pkg = await Bun.file(join(ROOT, "package.json")).json();
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

  test("ranks tools with the embedding model, onnxruntime unpacked into the data dir", async () => {
    const tools = await Bun.file(TOOLS_FILE).json();
    const body = JSON.stringify({ messages: [{ role: "user", content: "set a timer for ten minutes" }], tools });
    let result: { mode: string; tools: { name: string; semantic: number | null }[] } | undefined;
    // The first requests rank lexically while the Worker loads the model and embeds the tools.
    for (let i = 0; i < 60 && result?.mode !== "hybrid"; i++) {
      if (result) await Bun.sleep(250);
      const res = await fetch(`${url}/admin/tools/rank`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(200);
      result = (await res.json()) as typeof result;
    }
    expect(result!.mode).toBe("hybrid");
    expect(result!.tools.every((t) => typeof t.semantic === "number")).toBe(true);
    const ort = await Bun.file(join(ROOT, "node_modules", "onnxruntime-node", "package.json")).json();
    expect(existsSync(join(dir, "data", "models", `onnxruntime-${ort.version}-linux-x64`, "onnxruntime_binding.node"))).toBe(true);
  }, 30_000);

  test("detects another language with the bundled detector: a German request keeps every tool", async () => {
    const tools = await Bun.file(TOOLS_FILE).json();
    const body = JSON.stringify({ messages: [{ role: "user", content: "stelle bitte einen Wecker für morgen früh um sieben" }], tools });
    const res = await fetch(`${url}/admin/tools/rank`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { kept: number; total: number; tools: { reason: string }[] };
    expect(result.kept).toBe(result.total);
    expect(result.tools[0]!.reason).toBe("fail open: request in de");
  });

  test("runs a JavaScript MCP server with itself (${LLM_PROXY_EXECUTABLE}, BUN_BE_BUN=1)", async () => {
    let everything: { state: string; tools: string[]; pid: number } | undefined;
    for (let i = 0; i < 100 && everything?.state !== "ready"; i++) {
      if (everything) await Bun.sleep(100);
      const { servers } = (await (await fetch(`${url}/admin/mcp`)).json()) as { servers: (typeof everything & { name: string })[] };
      everything = servers.find((s) => s!.name === "everything");
    }
    expect(everything!.state).toBe("ready");
    expect(everything!.tools).toContain("mcp_everything_get-sum");
    expect(readFileSync(`/proc/${everything!.pid}/cmdline`, "utf8").split("\0")[0]).toBe(BINARY);
    mcpPid = everything!.pid;
  }, 30_000);

  test("serves the dashboard page built into it, uPlot included", async () => {
    const res = await fetch(`${url}/ui`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("<title>llm-proxy dashboard</title>");
    expect(html).toContain("u-legend");
  });

  test("SIGTERM to its PID stops it cleanly, its MCP server with it", async () => {
    // The embedding Worker's ONNX session is live (tools were ranked above): it must be released
    // before the process exits, or onnxruntime aborts it (exit 134, "terminate called ... Napi::Error").
    process.kill(proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(proc.signalCode).toBeNull();
    const text = await stderr;
    expect(text).not.toContain("terminate called");
    expect(text).not.toContain("Napi::Error");
    expect(existsSync(`/proc/${mcpPid}`)).toBe(false);
  });
});
