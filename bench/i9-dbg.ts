import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os"; import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema } from "/work/wt-i9/src/config/schema.ts";
import { ToolSelector } from "/work/wt-i9/src/selection/selector.ts";
import { resolveSettings } from "/work/wt-i9/src/selection/settings.ts";
const [data, toolsFile, ...ids] = process.argv.slice(2);
const tools = JSON.parse(readFileSync(toolsFile!, "utf8"));
const recs = readFileSync(data!, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const config = Value.Default(SelectionSchema, { embedding_model: "universal-sentence-encoder-lite-en", models_dir: "/work/shared/models" }) as any;
const sel = new ToolSelector({ dataDir: mkdtempSync(join(tmpdir(), "dbg")), config });
await sel.ready();
const st = resolveSettings({ ...config, deadline_ms: 60000 }, []);
await sel.select({ model: "x", messages: [{ role: "user", content: "warm" }], tools }, st);
for (const r of recs) {
  if (ids.length && !ids.includes(r.id) && !(ids[0] === "notool" && r.expected.length === 0)) continue;
  const res = (await sel.select({ model: "x", messages: r.messages, tools }, st))!;
  const d = res.decisions.sort((a, b) => a.rank - b.rank);
  console.log(r.id, JSON.stringify(r.messages.at(-1).content), "kept", res.kept.length, d[0]?.reason, "want", r.expected.map((e: string) => e + "#" + d.find((x) => x.name === e)?.rank).join(","));
  for (const x of d.slice(0, 5)) console.log(`   ${x.rank} ${x.name} lex=${x.lexical.toFixed(2)} sem=${x.semantic?.toFixed(3)} f=${x.fused.toFixed(3)} ${x.reason}`);
}
sel.close();
