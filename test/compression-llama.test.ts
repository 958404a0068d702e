/**
 * Compression against a real llama.cpp server (/work/shared/llama-cpp, tiny random-weight Qwen2 with
 * the real tokenizer and chat template), started with a small context: a request llama.cpp refuses
 * directly ("exceeds the available context size") is answered through the proxy, which learns the
 * window from the server itself (`/v1/models` meta.n_ctx) or from the Ollama client's num_ctx.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { haConversation } from "../bench/ha-conversation.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const PORT = 20630;
const CTX = 4096;
const START = join(import.meta.dir, "../../shared/llama-cpp/start.sh");

let pid: number | undefined;
let proxy: TestProxy;
const base = `http://127.0.0.1:${PORT}`;

beforeAll(async () => {
  const started = Bun.spawnSync(["bash", START, "tiny"], { env: { ...process.env, PORT: String(PORT), CTX: String(CTX) }, stderr: "pipe" });
  if (started.exitCode !== 0) throw new Error(`llama-server did not start (exit ${started.exitCode}): ${started.stderr.toString().slice(-2000)}`);
  pid = Number(started.stdout.toString().trim());
  proxy = startProxy({ upstreams: [{ name: "llama", base_url: `${base}/v1` }], selection: { mode: "off" } });
}, 120_000);
afterAll(() => {
  proxy?.stop();
  if (pid) process.kill(pid);
});

// 8 tools, 50 entities and 10 rounds (live-context results included): ~3x the server's context.
const conversation = haConversation({ entities: 50, tools: 8, rounds: 10 }, 21);
const request = { ...conversation, model: "qwen-random", max_tokens: 8 };

describe("compression against llama-server", () => {
  test("a request llama.cpp refuses directly is answered through the proxy", async () => {
    const direct = await new OpenAI({ baseURL: `${base}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions.create(request as any).catch((e) => e);
    expect(direct).toBeInstanceOf(OpenAI.BadRequestError);
    expect(direct.message).toContain("exceeds the available context size");

    const { data, response } = await new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions.create(request as any).withResponse();
    expect(data.usage!.prompt_tokens).toBeLessThanOrEqual(CTX);
    expect(response.headers.get("x-llm-proxy-compression")).toMatch(/^\d+->\d+$/);
    const row = proxy.rows().at(-1)!;
    expect(row).toMatchObject({ status: 200, compression_mode: "fit", token_budget: CTX - 8 });
    expect(row.prompt_tokens_estimated).toBeGreaterThan(CTX);
    expect(row.prompt_tokens_estimated_after).toBeLessThanOrEqual(CTX - 8);
    expect(Object.keys(JSON.parse(row.compression_steps as unknown as string))).not.toContain("over budget");
  });

  test("through the Ollama front, num_ctx is the budget", async () => {
    const messages = conversation.messages.map((m) =>
      m.tool_calls
        ? { role: "assistant", content: "", tool_calls: m.tool_calls.map((c) => ({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } })) }
        : m.role === "tool"
          ? { role: "tool", content: m.content as string }
          : m,
    );
    const reply = await new Ollama({ host: proxy.url }).chat({ model: "qwen-random", messages: messages as any, tools: conversation.tools as any, stream: false, options: { num_ctx: CTX, num_predict: 8 } });
    expect(reply.done).toBe(true);
    expect(reply.prompt_eval_count).toBeLessThanOrEqual(CTX);
    expect(proxy.rows().at(-1)).toMatchObject({ endpoint: "/api/chat", status: 200, token_budget: CTX - 8 });
  });

  test("llama.cpp's usage calibrates the estimate to the Qwen2 tokenizer", async () => {
    const compression = proxy.runtime.compression;
    await compression.estimator.settle();
    for (let i = 0; i < 50 && (compression.calibration.snapshot()["llama/qwen-random"]?.samples ?? 0) < 2; i++) await Bun.sleep(20);
    const entry = compression.calibration.snapshot()["llama/qwen-random"]!;
    expect(entry.samples).toBe(2);
    // Qwen2 with its template counts more tokens than o200k_base: the weights stay above 1 (docs/compression.md)
    expect(entry.messages).toBeGreaterThan(1);
    expect(entry.messages).toBeLessThan(1.5);
  });
});
