/**
 * Model facts (src/upstream/model-facts.ts): what each kind of server reports, read from its own
 * reply shapes; one fetch per TTL shared by concurrent callers; failures remembered briefly; nothing
 * invented. The same facts from the real llama-server are checked in llama-cpp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { factsFromModelEntry, factsFromOllamaShow, factsFromProps, getModelFacts, humanNumber, quantizationName, serverRoot } from "../src/upstream/model-facts.ts";
import { FakeOllamaUpstream } from "./fakes/ollama-upstream.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

/** A /v1/models entry and /props as llama-server b10309 sends them (captured from ../shared/llama-cpp, `-c 4096`). */
const LLAMA_ENTRY = {
  id: "qwen-random",
  aliases: ["qwen-random"],
  tags: [],
  object: "model",
  created: 1795851030,
  owned_by: "llamacpp",
  meta: { vocab_type: 2, n_vocab: 151936, n_ctx: 4096, n_ctx_train: 32768, n_embd: 32, n_params: 5032608, size: 20130432, ftype: "all F32" },
};
const LLAMA_PROPS = {
  default_generation_settings: { n_ctx: 4096, params: { temperature: 0.8 } },
  total_slots: 4,
  model_alias: "qwen-random",
  model_ftype: "all F32",
  modalities: { vision: false, audio: false },
  chat_template_caps: { supports_tools: true, supports_tool_calls: true },
  build_info: "b10309-82bb485",
  chat_template: "{{ messages }}",
};

describe("parsing what servers report", () => {
  test("llama.cpp /v1/models entry and /props", () => {
    expect(factsFromModelEntry(LLAMA_ENTRY)).toEqual({
      context_length: 4096,
      n_ctx_train: 32768,
      n_params: 5032608,
      parameter_size: "5.03M",
      quantization: "F32",
      n_vocab: 151936,
      size_bytes: 20130432,
    });
    expect(factsFromProps(LLAMA_PROPS)).toEqual({
      server: "llama.cpp",
      build_info: "b10309-82bb485",
      context_length: 4096,
      total_slots: 4,
      quantization: "F32",
      capabilities: ["completion", "tools"],
      chat_template: "{{ messages }}",
    });
  });

  test("vLLM and OpenRouter entries give their context window; a bare OpenAI entry gives nothing", () => {
    expect(factsFromModelEntry({ id: "m", max_model_len: 32768 }).context_length).toBe(32768);
    expect(factsFromModelEntry({ id: "m", context_length: 200000 }).context_length).toBe(200000);
    expect(factsFromModelEntry({ id: "m", top_provider: { context_length: 128000 } }).context_length).toBe(128000);
    const bare = factsFromModelEntry({ id: "gpt-4o", object: "model", created: 0, owned_by: "openai" });
    expect(Object.values(bare).filter((v) => v !== undefined)).toEqual([]);
  });

  test("a server without build_info is not taken for llama.cpp; junk values are ignored", () => {
    expect(factsFromProps({ default_generation_settings: { n_ctx: "big" }, total_slots: -1 })).toEqual({
      server: undefined,
      build_info: undefined,
      context_length: undefined,
      total_slots: undefined,
      quantization: undefined,
      capabilities: undefined,
      chat_template: undefined,
    });
  });

  test("Ollama /api/show: num_ctx parameter is the context window, <arch>.context_length the trained one", () => {
    const facts = factsFromOllamaShow({
      license: "",
      modelfile: "",
      parameters: 'stop                           "<|im_end|>"\nnum_ctx                        8192',
      template: "{{ .Prompt }}",
      details: { parent_model: "", format: "gguf", family: "qwen2", families: ["qwen2"], parameter_size: "7.6B", quantization_level: "Q4_K_M" },
      model_info: { "general.architecture": "qwen2", "general.parameter_count": 7615616512, "qwen2.context_length": 32768, "qwen2.vocab_size": 152064 },
      capabilities: ["completion", "tools"],
      modified_at: "",
    });
    expect(facts).toEqual({
      server: "ollama",
      context_length: 8192,
      n_ctx_train: 32768,
      n_params: 7615616512,
      parameter_size: "7.6B",
      quantization: "Q4_K_M",
      family: "qwen2",
      format: "gguf",
      n_vocab: 152064,
      capabilities: ["completion", "tools"],
      chat_template: "{{ .Prompt }}",
    });
    // No num_ctx line: the server's default applies, which /api/show does not tell.
    expect(factsFromOllamaShow({ parameters: "", model_info: {}, details: {} } as never).context_length).toBeUndefined();
  });

  test("names: parameter counts as Ollama prints them, llama.cpp file types as Ollama names them, server root", () => {
    expect([8e9, 7615616512, 494032768, 5032608, 5e6, 12_345, 999].map(humanNumber)).toEqual(["8B", "7.6B", "494.03M", "5.03M", "5M", "12K", "999"]);
    expect(["all F32", "F16", "Q8_0", "Q4_K - Medium", "Q2_K - Medium", "IQ2_XS - 2.3125 bpw", "MXFP4 MoE"].map(quantizationName)).toEqual(["F32", "F16", "Q8_0", "Q4_K_M", "Q2_K", "IQ2_XS", "MXFP4 MoE"]);
    expect(serverRoot("http://h:8080/v1")).toBe("http://h:8080");
    expect(serverRoot("http://h:8080/v1/")).toBe("http://h:8080");
    expect(serverRoot("https://openrouter.ai/api/v1")).toBe("https://openrouter.ai/api");
    expect(serverRoot("http://h:8080")).toBe("http://h:8080");
  });
});

describe("fetching and caching", () => {
  let llama: ReturnType<typeof Bun.serve>;
  const hits = { models: 0, props: 0 };
  let propsStatus = 200;
  let fakeOpenAI: FakeOpenAIUpstream;
  let ollama: FakeOllamaUpstream;
  let proxy: TestProxy;
  let deadUrl: string;

  beforeAll(() => {
    llama = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/v1/models") return hits.models++, Response.json({ object: "list", data: [LLAMA_ENTRY] });
        if (path === "/props") {
          hits.props++;
          await Bun.sleep(30); // concurrent callers arrive while this one is in flight
          return propsStatus === 200 ? Response.json(LLAMA_PROPS) : new Response("no", { status: propsStatus });
        }
        return new Response("not found", { status: 404 });
      },
    });
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    deadUrl = `http://127.0.0.1:${probe.port}/v1`;
    probe.stop(true);
    fakeOpenAI = new FakeOpenAIUpstream();
    ollama = new FakeOllamaUpstream({ models: ["qwen3:8b"] });
    proxy = startProxy({
      upstreams: [
        { name: "llama", base_url: `http://127.0.0.1:${llama.port}/v1` },
        { name: "openai", base_url: fakeOpenAI.url },
        { name: "ollama", type: "ollama", base_url: ollama.url },
        { name: "dead", base_url: deadUrl, max_retries: 0 },
      ],
      models: { list_cache_ttl_ms: 60_000 },
    });
  });
  afterAll(() => {
    proxy.stop();
    llama.stop(true);
    fakeOpenAI.stop();
    ollama.stop();
  });
  const upstream = (name: string) => proxy.runtime.state.upstreams.get(name)!;

  test("llama.cpp: one fetch for concurrent callers, then the cache", async () => {
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => getModelFacts(upstream("llama"), "qwen-random")));
    expect(new Set(all).size).toBe(1);
    expect(all[0]).toMatchObject({ server: "llama.cpp", build_info: "b10309-82bb485", context_length: 4096, n_ctx_train: 32768, total_slots: 4, parameter_size: "5.03M" });
    await getModelFacts(upstream("llama"), "qwen-random");
    expect(hits).toEqual({ models: 1, props: 1 });
  });

  test("a model the server does not list still gets the server's facts", async () => {
    const facts = await getModelFacts(upstream("llama"), "other");
    expect(facts).toMatchObject({ server: "llama.cpp", context_length: 4096, total_slots: 4 });
    expect(facts.n_ctx_train).toBeUndefined();
  });

  test("an OpenAI-style server without /props: the facts it has, nothing invented", async () => {
    const facts = await getModelFacts(upstream("openai"), "fake-model");
    expect(Object.entries(facts).filter(([, v]) => v !== undefined)).toEqual([]);
  });

  test("Ollama: from its own /api/show", async () => {
    const facts = await getModelFacts(upstream("ollama"), "qwen3:8b");
    expect(facts).toMatchObject({ server: "ollama", context_length: 4096, n_ctx_train: 131072, parameter_size: "3.2B", quantization: "Q4_K_M", family: "llama" });
    expect(ollama.requests.filter((r) => r.path === "/api/show")).toHaveLength(1);
  });

  test("an upstream that does not answer: empty facts, no throw", async () => {
    expect(await getModelFacts(upstream("dead"), "m")).toEqual({});
  });

  test("an upstream that stops answering keeps its last facts; one that was never asked successfully is asked again soon", async () => {
    let asked = 0;
    // A free port, nothing listening yet.
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = server.port;
    server.stop(true);
    const flaky = startProxy({ upstreams: [{ name: "flaky", base_url: `http://127.0.0.1:${port}/v1`, max_retries: 0 }], models: { list_cache_ttl_ms: 200 } });
    const state = flaky.runtime.state.upstreams.get("flaky")!;
    try {
      expect(await getModelFacts(state, "qwen-random")).toEqual({});
      const again = Bun.serve({ hostname: "127.0.0.1", port, fetch: (req) => (asked++, new URL(req.url).pathname === "/props" ? Response.json(LLAMA_PROPS) : Response.json({ object: "list", data: [LLAMA_ENTRY] })) });
      // Remembered for a moment: not asked again at once.
      expect(await getModelFacts(state, "qwen-random")).toEqual({});
      expect(asked).toBe(0);
      await Bun.sleep(250);
      expect(await getModelFacts(state, "qwen-random")).toMatchObject({ server: "llama.cpp", context_length: 4096 });
      again.stop(true);
      await Bun.sleep(250);
      // Gone again: the facts it gave last stay.
      expect(await getModelFacts(state, "qwen-random")).toMatchObject({ server: "llama.cpp", context_length: 4096 });
    } finally {
      flaky.stop();
    }
  });
});

