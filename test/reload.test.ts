import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";

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
