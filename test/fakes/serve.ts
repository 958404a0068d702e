/**
 * Runs llm-proxy as a subprocess (`bun index.ts ...`) in a clean environment: `run` waits for it to
 * exit, `serve` resolves once it prints its address. For tests of the command line and of what
 * only a real process does (file watching, the shipped config).
 */
import { resolve, join } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
const ENTRY = join(ROOT, "index.ts");

/** A clean environment: none of the developer's OPENAI_* or PORT variables leak into the child. */
export const baseEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...extra });

export async function run(args: string[], env: Record<string, string>, cwd: string) {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], { cwd, env: baseEnv(env), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/**
 * Starts `serve` and resolves once it prints its address; `stderr()` is what it wrote there so far;
 * `stop()` sends SIGTERM and returns the exit code.
 */
export async function serve(args: string[], env: Record<string, string>, cwd: string) {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], { cwd, env: baseEnv(env), stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  void (async () => {
    for await (const chunk of proc.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  const reader = proc.stdout.getReader();
  let out = "";
  const decoder = new TextDecoder();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`serve exited early: ${out}${stderr}`);
    out += decoder.decode(value);
  }
  reader.releaseLock();
  const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  return {
    url,
    out,
    stderr: () => stderr,
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
  };
}
