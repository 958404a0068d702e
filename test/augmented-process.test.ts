/**
 * Augmented models in a real process: the shipped conf/ (conf/models/homeassistant.yml and its
 * skill) works as shipped, and saving a file in the models directory reloads the set (a broken file
 * is refused and the running set stays).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ollama } from "ollama";
import { stringify } from "yaml";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { ROOT, run, serve } from "./fakes/serve.ts";
import { until } from "./fakes/until.ts";
import { readChat } from "./fakes/ollama-chat.ts";

/** Per-test timeout: each test starts bun processes (~1 s idle, over 5 s at load 12 on 2 cores). */
const PROCESS_TEST_MS = 60_000;

let dir: string;
let upstream: FakeOpenAIUpstream;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llm-proxy-augmented-"));
  upstream = new FakeOpenAIUpstream({ models: ["default"] });
});
afterAll(() => {
  upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the shipped augmented/homeassistant works as shipped from an Ollama client: time template, skill, tool round, answer", async () => {
  const server = await serve(["--config", join(ROOT, "conf/llm-proxy.yaml"), "--port", "0", "--data-dir", join(dir, "shipped-data")], { OPENAI_BASE_URL: upstream.url }, dir);
  try {
    upstream.script.push({ toolCalls: [{ name: "get_current_time", arguments: { timezone: "Asia/Tokyo" } }] }, { content: "It is evening in Tokyo." });
    const ollama = new Ollama({ host: server.url });
    expect((await ollama.list()).models.map((m) => m.name)).toContain("augmented/homeassistant");
    const parts = await ollama.chat({ model: "augmented/homeassistant", messages: [{ role: "system", content: "HA entities: none" }, { role: "user", content: "What time is it in Tokyo?" }], stream: true });
    const { content, thinking } = await readChat(parts);
    expect(content).toBe("It is evening in Tokyo.");
    expect(thinking).toContain("Running get_current_time");
    const [first, second] = upstream.chatRequests.map((r) => r.body);
    expect(first.model).toBe("default");
    expect(first.temperature).toBe(0.3);
    expect(first.messages[0].content).toMatch(/^It is now \w+day, \d{1,2} \w+ \d{4}, \d\d:\d\d:\d\d .+\nFor arithmetic/);
    expect(first.messages[0].content).toContain("## Skill: spoken-answers\nAnswers are spoken");
    expect(first.messages[0].content).toEndWith("\n\nHA entities: none");
    expect(first.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(["get_current_time", "calculator"]);
    expect(JSON.parse(second.messages.at(-1).content).timezone).toBe("Asia/Tokyo");
  } finally {
    expect(await server.stop()).toBe(0);
  }
}, PROCESS_TEST_MS);

test("saving a model file reloads the models; a broken one is refused and the running set stays", async () => {
  const conf = join(dir, "conf");
  mkdirSync(join(conf, "models"), { recursive: true });
  writeFileSync(join(conf, "llm-proxy.yaml"), stringify({ upstreams: [{ name: "fake", base_url: upstream.url }] }));
  writeFileSync(join(conf, "models", "a.yml"), "name: augmented/a\nupstream_model: fake/default\n");
  const server = await serve(["--config", join(conf, "llm-proxy.yaml"), "--port", "0", "--data-dir", join(dir, "watch-data")], {}, dir);
  const ids = async () => ((await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
  try {
    expect(await ids()).toContain("augmented/a");
    writeFileSync(join(conf, "models", "b.yml"), "name: augmented/b\nupstream_model: fake/default\n");
    await until(async () => (await ids()).includes("augmented/b"));
    expect(server.out + server.stderr()).not.toContain("refused");

    writeFileSync(join(conf, "models", "c.yml"), "name: augmented/c\nstatus: loud\n");
    await until(() => server.stderr().includes("reload refused"));
    expect(server.stderr()).toContain(`${join(conf, "models", "c.yml")}: status:`);
    const now = await ids();
    expect(now).toContain("augmented/b");
    expect(now).not.toContain("augmented/c");
  } finally {
    expect(await server.stop()).toBe(0);
  }
}, PROCESS_TEST_MS);

test("check-config validates the model files too: the shipped one is listed, a broken one exits 1 naming file and key", async () => {
  const shipped = await run(["check-config", "--config", join(ROOT, "conf/llm-proxy.yaml")], {}, dir);
  expect(shipped.code).toBe(0);
  expect(shipped.stderr).toContain("augmented models in ");
  expect(shipped.stderr).toContain("augmented/homeassistant");

  const conf = join(dir, "check");
  mkdirSync(join(conf, "models"), { recursive: true });
  writeFileSync(join(conf, "llm-proxy.yaml"), "");
  writeFileSync(join(conf, "models", "bad.yml"), "name: x\ntool_timeout_ms: soon\n");
  const bad = await run(["check-config", "--config", join(conf, "llm-proxy.yaml")], {}, dir);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain(`${join(conf, "models", "bad.yml")}: tool_timeout_ms: expected integer, found "soon"`);
}, PROCESS_TEST_MS);
