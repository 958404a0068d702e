/** The proxy's config for the benchmarks, written to `<dir>/llm-proxy.yaml`. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

/**
 * One upstream (`bench`, serving `bench-model`, no retries), request log on (bodies off), tool
 * selection off unless `extra` says otherwise; `extra`'s top-level sections replace the defaults.
 * @returns the config file's path
 */
export function proxyConfig(dir: string, upstreamUrl: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, "llm-proxy.yaml");
  const config = {
    server: { host: "127.0.0.1", port: 0 },
    data_dir: join(dir, "data"),
    log: { requests: true, bodies: false },
    upstreams: [{ name: "bench", type: "openai", base_url: upstreamUrl, models: ["bench-model"], max_retries: 0 }],
    selection: { mode: "off" },
    ...extra,
  };
  writeFileSync(path, stringify(config));
  return path;
}
