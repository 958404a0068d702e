/** Runs wrk (Debian package `wrk`) with bench/wrk.lua and returns its result. */
import { join } from "node:path";

export interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * POSTs `bodyFile` to `url` for `seconds` with `connections` open connections; a file of several
 * lines (JSON Lines) is sent one line per request, in turn.
 * @throws when wrk is missing or prints no result
 */
export async function wrk(url: string, bodyFile: string, connections: number, seconds: number): Promise<LoadResult> {
  const threads = Math.min(2, connections);
  const proc = Bun.spawn(["wrk", `-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", join(import.meta.dir, "wrk.lua"), url], {
    env: { ...process.env, BENCH_BODY_FILE: bodyFile },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = /BENCH_RESULT (\{.*\})/.exec(out)?.[1];
  if (!line) throw new Error(`wrk printed no result for ${url}:\n${out}\n${err}`);
  const r = JSON.parse(line);
  return {
    requests: r.requests,
    rps: r.requests / (r.duration_us / 1e6),
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: r.socket_errors + r.non_2xx,
  };
}
