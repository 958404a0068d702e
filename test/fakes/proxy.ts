/**
 * Starts llm-proxy in-process on a free loopback port with a config written to a temp YAML file,
 * and a fresh data directory. For tests only.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { loadConfig } from "../../src/config/load.ts";
import { Runtime } from "../../src/runtime.ts";
import { startServer } from "../../src/server/app.ts";
import type { RequestLogRow } from "../../src/store/request-log.ts";

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  runtime: Runtime;
  /** Flushes the request log and returns its rows, oldest first. */
  rows(): (RequestLogRow & { id: number })[];
  stop(): void;
}

export function startProxy(config: Record<string, unknown>, env: Record<string, string> = {}): TestProxy {
  const dir = mkdtempSync(join(tmpdir(), "llm-proxy-test-"));
  const path = join(dir, "llm-proxy.yaml");
  writeFileSync(path, stringify({ data_dir: join(dir, "data"), ...config, server: { port: 0, ...(config.server as object) } }));
  const options = { path, env };
  const runtime = new Runtime(loadConfig(options), options);
  const server = startServer(runtime);
  return {
    url: `http://127.0.0.1:${server.port}`,
    runtime,
    rows() {
      runtime.requestLog!.flush();
      const db = new Database(runtime.requestLog!.path);
      db.exec("PRAGMA busy_timeout = 2000");
      try {
        return db.query("SELECT * FROM requests ORDER BY id").all() as any;
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
