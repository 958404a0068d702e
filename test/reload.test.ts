import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../src/config/load.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

let upstream: FakeOpenAIUpstream;
let dir: string;
let proc: ReturnType<typeof Bun.spawn>;
let url: string;
let stderr = "";

const config = (alias: string) => `upstreams:\n  - name: fake\n    base_url: ${upstream.url}\nmodels:\n  aliases:\n    ${alias}: fake/fake-model\n`;

async function aliases(): Promise<string[]> {
  const res = await fetch(`${url}/v1/models`);
  const json = (await res.json()) as { data: { id: string; owned_by: string }[] };
  return json.data.filter((m) => m.owned_by === "llm-proxy").map((m) => m.id);
}

async function until(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (await check()) return true;
    await Bun.sleep(100);
  }
  return false;
}

beforeAll(async () => {
  upstream = new FakeOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), "llm-proxy-reload-"));
  writeFileSync(join(dir, "llm-proxy.yaml"), config("first"));
  proc = Bun.spawn(["bun", join(import.meta.dir, "../index.ts"), "--config", join(dir, "llm-proxy.yaml"), "--port", "0", "--data-dir", join(dir, "data")], {
    stdout: "pipe",
    stderr: "pipe",
  });
  (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += new TextDecoder().decode(chunk);
  })();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`proxy exited: ${out}${stderr}`);
    out += new TextDecoder().decode(value);
  }
  url = /listening on (\S+)/.exec(out)![1]!;
  reader.releaseLock();
});

afterAll(() => {
  proc.kill();
  upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("saving the config file reloads it; an invalid file is refused and the old config keeps serving", async () => {
  expect(await aliases()).toEqual(["first"]);
  writeFileSync(join(dir, "llm-proxy.yaml"), config("second"));
  expect(await until(async () => (await aliases()).includes("second"))).toBe(true);

  writeFileSync(join(dir, "llm-proxy.yaml"), "upstreams: [\n");
  expect(await until(async () => stderr.includes("reload refused"))).toBe(true);
  expect(stderr).toContain("invalid YAML");
  expect(await aliases()).toEqual(["second"]);
});

describe("a reload that looks cut short is refused (it once turned API keys off)", () => {
  const KEY = "sk-reload-key-1";
  let keyed: TestProxy;
  let path: string;
  const write = (text: string) => writeFileSync(path, text);
  const upstreamYaml = () => `upstreams:\n  - name: fake\n    base_url: ${upstream.url}\n`;
  const status = async (key?: string) => (await fetch(`${keyed.url}/v1/models`, { headers: key ? { authorization: `Bearer ${key}` } : {} })).status;
  const refusal = () => {
    try {
      keyed.runtime.reload();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    return "accepted";
  };

  beforeAll(() => {
    keyed = startProxy({ auth: { keys: [KEY] }, upstreams: [{ name: "fake", base_url: upstream.url }] });
    path = keyed.runtime.state.configPath!;
  });
  afterAll(() => keyed.stop());

  test("an empty file, one with only comments, or `null`", async () => {
    for (const text of ["", "\n\n", "# nothing yet\n", "null\n"]) {
      write(text);
      expect(refusal()).toContain("holds no settings");
      expect(await status()).toBe(401);
      expect(await status(KEY)).toBe(200);
    }
  });

  test("a file cut before auth: keys stay on", async () => {
    write(`data_dir: ${keyed.runtime.state.config.data_dir}\n${upstreamYaml()}`);
    expect(refusal()).toContain("turning API keys off");
    expect(await status()).toBe(401);
  });

  test("a file that would drop every upstream", async () => {
    write(`auth:\n  keys: [${KEY}]\n`);
    expect(refusal()).toContain("dropping every upstream");
    write(`auth:\n  keys: [${KEY}]\nupstreams: []\n`);
    expect(refusal()).toContain("dropping every upstream");
    expect(keyed.runtime.state.upstreams.list.map((u) => u.name)).toEqual(["fake"]);
  });

  test("a complete file that changes the keys is applied", async () => {
    write(`auth:\n  keys: [sk-reload-key-2]\n${upstreamYaml()}`);
    expect(refusal()).toBe("accepted");
    expect(await status(KEY)).toBe(401);
    expect(await status("sk-reload-key-2")).toBe(200);
  });
});
