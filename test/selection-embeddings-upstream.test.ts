/**
 * `selection.embeddings: {upstream, model}`: tool selection with the embeddings an upstream serves
 * (OpenAI-compatible /v1/embeddings, Ollama /api/embed) instead of the proxy's own onnxruntime
 * Worker. The fake upstreams compute their vectors with the same offline model the Worker loads,
 * so the selection must come out the same; a failing upstream falls back to lexical at once; and
 * the proxy process never maps onnxruntime in this mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { stringify } from "yaml";
import { loadConfig } from "../src/config/load.ts";
import { SelectionSchema, UpstreamSchema, type SelectionConfig, type UpstreamConfig } from "../src/config/schema.ts";
import type { Tool } from "../src/protocol/openai.ts";
import { ToolSelector } from "../src/selection/selector.ts";
import { resolveSettings } from "../src/selection/settings.ts";
import { MODEL, MODELS_DIR, modelEmbeddings } from "./fakes/model-embeddings.ts";
import { FakeOllamaUpstream } from "./fakes/ollama-upstream.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy } from "./fakes/proxy.ts";

const DATA = join(import.meta.dir, "../../shared/datasets/tool-selection");
const TOOLS = ["ha-assist.json", "extra-mcp.json"].flatMap((f) => JSON.parse(readFileSync(join(DATA, "tools", f), "utf8")) as Tool[]);
/** Every 10th record of the dev set: single and multi-turn, all sources. */
const RECORDS = readFileSync(join(DATA, "dev.jsonl"), "utf8")
  .split("\n")
  .filter((l, i) => l.trim() && i % 10 === 0)
  .map((l) => JSON.parse(l) as { messages: never[] });

let openai: FakeOpenAIUpstream;
let ollama: FakeOllamaUpstream;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-embed-"));
  dirs.push(dir);
  return dir;
};

beforeAll(() => {
  openai = new FakeOpenAIUpstream();
  ollama = new FakeOllamaUpstream();
  openai.embed = modelEmbeddings;
  ollama.embed = modelEmbeddings;
});
afterAll(() => {
  openai.stop();
  ollama.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const selectionConfig = (extra: Partial<SelectionConfig>) =>
  Value.Default(SelectionSchema, { mode: "hybrid", embedding_model: MODEL, models_dir: MODELS_DIR, deadline_ms: 30_000, ...extra }) as SelectionConfig;
const upstreamConfig = (name: string, type: "openai" | "ollama", base_url: string) => Value.Default(UpstreamSchema, { name, type, base_url }) as UpstreamConfig;

describe("embeddings from an upstream", () => {
  test("OpenAI-compatible and Ollama upstreams serving the offline model select exactly as the local model does", async () => {
    const upstreams = [upstreamConfig("oai", "openai", openai.url), upstreamConfig("oll", "ollama", ollama.url)];
    const selectors = {
      local: new ToolSelector({ dataDir: tempDir(), config: selectionConfig({}) }),
      openai: new ToolSelector({ dataDir: tempDir(), config: selectionConfig({ embeddings: { upstream: "oai", model: MODEL } }), upstream: (n) => upstreams.find((u) => u.name === n) }),
      ollama: new ToolSelector({ dataDir: tempDir(), config: selectionConfig({ embeddings: { upstream: "oll", model: MODEL } }), upstream: (n) => upstreams.find((u) => u.name === n) }),
    };
    try {
      expect(await selectors.local.ready()).toBe(true);
      const settings = resolveSettings(selectionConfig({}), []);
      for (const record of RECORDS) {
        const request = { model: "m", messages: record.messages, tools: TOOLS };
        const [local, viaOpenAI, viaOllama] = await Promise.all([selectors.local, selectors.openai, selectors.ollama].map((s) => s.select(request, settings)));
        for (const remote of [viaOpenAI!, viaOllama!]) {
          expect(remote.mode).toBe("hybrid");
          expect(remote.decisions.map((d) => [d.name, d.rank, d.kept])).toEqual(local!.decisions.map((d) => [d.name, d.rank, d.kept]));
          remote.decisions.forEach((d, i) => expect(d.semantic!).toBeCloseTo(local!.decisions[i]!.semantic!, 5));
        }
      }
      expect(openai.requests.filter((r) => r.path === "/v1/embeddings").length).toBeGreaterThan(0);
      const sent = ollama.requests.find((r) => r.path === "/api/embed")!;
      expect(sent.body).toMatchObject({ model: MODEL, input: expect.any(Array) });
    } finally {
      for (const s of Object.values(selectors)) s.close();
    }
  }, 60_000);

  test("an unreachable or failing upstream: lexical at once, the request goes through, and the upstream is not asked again right away", async () => {
    const chat = new FakeOpenAIUpstream();
    const broken = new FakeOpenAIUpstream();
    // Answers 200 without vectors: a malformed reply is a failure like a refused connection.
    broken.embed = async () => [];
    const proxy = startProxy({
      upstreams: [
        { name: "chat", base_url: chat.url, models: ["fake-model"], max_retries: 0 },
        { name: "down", base_url: "http://127.0.0.1:9/v1", models: [] },
        { name: "broken", base_url: broken.url, models: [] },
      ],
      selection: { mode: "hybrid", deadline_ms: 30_000, embeddings: { upstream: "down", model: "nomic-embed-text" } },
    });
    try {
      const send = () =>
        fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "turn on the lights" }], tools: TOOLS }) });
      expect((await send()).status).toBe(200);
      expect(proxy.rows().at(-1)!.selection_mode).toBe("lexical (embedding failed)");

      writeFileSync(proxy.runtime.state.configPath!, stringify({ ...proxy.runtime.state.config, selection: { ...proxy.runtime.state.config.selection, embeddings: { upstream: "broken", model: "m" } } }));
      proxy.runtime.reload();
      for (let i = 0; i < 3; i++) expect((await send()).status).toBe(200);
      expect(proxy.rows().slice(-3).map((r) => r.selection_mode)).toEqual(Array(3).fill("lexical (embedding failed)"));
      // The first failure stops further calls for a while: the first request's two (tool batch, query), not two per request.
      expect(broken.requests.filter((r) => r.path === "/v1/embeddings").length).toBeLessThanOrEqual(2);
    } finally {
      proxy.stop();
      chat.stop();
      broken.stop();
    }
  });

  test("a slow upstream: the request waits deadline_ms, then ranks lexically", async () => {
    const slow = new FakeOpenAIUpstream({ models: ["fake-model"] });
    slow.embed = async (texts) => {
      await Bun.sleep(2_000);
      return texts.map(() => [1, 0, 0]);
    };
    const proxy = startProxy({ upstreams: [{ name: "slow", base_url: slow.url, max_retries: 0 }], selection: { mode: "hybrid", deadline_ms: 50, embeddings: { upstream: "slow", model: "m" } } });
    try {
      const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "turn on the lights" }], tools: TOOLS }) });
      expect(res.status).toBe(200);
      expect(proxy.rows().at(-1)!.selection_mode).toBe("lexical (deadline)");
    } finally {
      proxy.stop();
      slow.stop();
    }
  });

  test("selection.embeddings must name a configured upstream", () => {
    const dir = tempDir();
    const path = join(dir, "llm-proxy.yaml");
    writeFileSync(path, stringify({ upstreams: [{ name: "local", base_url: "http://127.0.0.1:8000/v1" }], selection: { embeddings: { upstream: "ollama", model: "nomic-embed-text" } } }));
    expect(() => loadConfig({ path })).toThrow('selection.embeddings.upstream: expected the name of a configured upstream, found "ollama"');
  });

  test("the proxy process never loads onnxruntime with selection.embeddings; it does with the local model", async () => {
    /** The proxy's memory maps once it ranked with embeddings: `embedded()` says when that happened. */
    const maps = async (selection: Record<string, unknown>, embedded: (maps: string) => boolean) => {
      const dir = tempDir();
      const path = join(dir, "llm-proxy.yaml");
      const config = { server: { port: 0 }, data_dir: join(dir, "data"), upstreams: [{ name: "oai", base_url: openai.url, models: ["fake-model"] }], selection: { mode: "hybrid", deadline_ms: 30_000, ...selection } };
      writeFileSync(path, stringify(config));
      const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, "..", "index.ts"), "--config", path], { env: { ...process.env, ORT_DISABLE_TELEMETRY: "1" }, stdout: "pipe", stderr: "ignore" });
      try {
        const reader = proc.stdout.getReader();
        let out = "";
        while (!/listening on (http:\/\/\S+)/.test(out)) out += new TextDecoder().decode((await reader.read()).value);
        reader.releaseLock();
        const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
        const body = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "turn on the lights" }], tools: TOOLS });
        for (;;) {
          const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", body });
          expect(res.status).toBe(200);
          const text = readFileSync(`/proc/${proc.pid}/maps`, "utf8");
          if (embedded(text)) return text;
          await Bun.sleep(100);
        }
      } finally {
        proc.kill();
        await proc.exited;
      }
    };
    const embedCalls = () => openai.requests.filter((r) => r.path === "/v1/embeddings").length;
    const before = embedCalls();
    expect(await maps({ embeddings: { upstream: "oai", model: MODEL } }, () => embedCalls() > before)).not.toContain("onnxruntime");
    // The local model loads in the Worker after the first request; the test's timeout bounds the wait.
    expect(await maps({ embedding_model: MODEL, models_dir: MODELS_DIR }, (text) => text.includes("onnxruntime"))).toContain("onnxruntime");
  }, 60_000);
});
