/**
 * Starts llm-proxy in-process on a free loopback port with a config written to a temp YAML file,
 * and a fresh data directory. For tests only.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { loadConfig } from "../../src/config/load.ts";
import { Runtime } from "../../src/runtime.ts";
import { startServer } from "../../src/server/app.ts";
import { ROW_SQL, withDecisions } from "../../src/store/request-log-reader.ts";
import type { RequestLogRow } from "../../src/store/request-log.ts";
import type { ToolSource } from "../../src/tools/source.ts";

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  runtime: Runtime;
  /** The temp directory holding the config file (its `models/` and `skills/` are the defaults). */
  dir: string;
  /** Flushes the request log and returns its rows, oldest first (JSON columns as text; tool_decisions from its shared list). */
  rows(): (RequestLogRow & { id: number })[];
  stop(): void;
}

/**
 * @param files extra files to write before start, by path relative to the temp directory (e.g.
 *   "models/ha.yml"), for augmented models and skills
 * @param toolSources tool sources beside the built-ins
 */
export function startProxy(config: Record<string, unknown>, env: Record<string, string> = {}, files: Record<string, string> = {}, toolSources: ToolSource[] = []): TestProxy {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-test-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const path = join(dir, "llm-proxy.yaml");
  writeFileSync(path, stringify({ data_dir: join(dir, "data"), ...config, server: { port: 0, ...(config.server as object) } }));
  const options = { path, env };
  const runtime = new Runtime(loadConfig(options), options, toolSources);
  const server = startServer(runtime);
  return {
    url: `http://127.0.0.1:${server.port}`,
    runtime,
    dir,
    rows() {
      runtime.requestLog!.flush();
      const db = new Database(runtime.requestLog!.path);
      db.exec("PRAGMA busy_timeout = 2000");
      try {
        return (db.query(`${ROW_SQL} ORDER BY requests.id`).all() as Record<string, unknown>[]).map(withDecisions) as any;
      } finally {
        db.close();
      }
    },
    stop() {
      server.stop(true);
      runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
