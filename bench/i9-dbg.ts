import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os"; import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { SelectionSchema } from "/work/wt-i9/src/config/schema.ts";
import { ToolSelector } from "/work/wt-i9/src/selection/selector.ts";
import { resolveSettings } from "/work/wt-i9/src/selection/settings.ts";
const tools = JSON.parse(readFileSync("/work/shared/datasets/tool-selection-general/tools.json", "utf8"));
const recs = readFileSync(process.argv[2] || "/work/shared/datasets/tool-selection-general/dev.jsonl", "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const config = Value.Default(SelectionSchema, { embedding_model: "universal-sentence-encoder-lite-en", models_dir: "/work/shared/models" }) as any;
const sel = new ToolSelector({ dataDir: mkdtempSync(join(tmpdir(), "dbg")), config });
await sel.ready();
const st = resolveSettings({ ...config, deadline_ms: 60000 }, []);
const ids = process.argv.slice(3);
for (const r of recs) {
  if (ids.length && !ids.includes(r.id)) continue;
  const res = (await sel.select({ model: "x", messages: r.messages, tools }, st))!;
  const d = res.decisions.sort((a, b) => a.rank - b.rank);
  console.log(r.id, JSON.stringify(r.messages.at(-1).content), "want", r.expected.map((e: string) => e + "#" + d.find((x) => x.name === e)?.rank).join(","));
  for (const x of d.slice(0, 8)) console.log(`   ${x.rank} ${x.name} lex=${x.lexical.toFixed(2)} sem=${x.semantic?.toFixed(3)} f=${x.fused.toFixed(3)}`);
}
sel.close();
