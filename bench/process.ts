/**
 * Child processes for the benchmarks: start a server that prints "listening on <url>", read its
 * resident memory from /proc, sample the peak while load runs, stop it by PID.
 */
import { readFileSync } from "node:fs";

export interface ServerProcess {
  /** What the server printed after "listening on". */
  url: string;
  pid: number;
  /** Milliseconds from spawn to the "listening on" line. */
  startMs: number;
  /** Current resident set size, MiB. */
  rssMiB(): number;
  /** Starts sampling RSS every 50 ms; the returned function stops and gives the peak, MiB. */
  samplePeak(): () => number;
  stop(): Promise<void>;
}

/** Current resident set size of a process, MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Where a process's resident memory is, MiB: anonymous (heaps, arenas), file-backed (code, mapped libraries), and onnxruntime's library alone. */
export interface MemoryBreakdown {
  rss: number;
  anon: number;
  file: number;
  onnxruntime: number;
}

/** Resident memory of `pid` by kind, from /proc/PID/status and /proc/PID/smaps (Linux). */
export function memoryOf(pid: number): MemoryBreakdown {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  let onnxruntime = 0;
  let inOrt = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inOrt = line.includes("onnxruntime");
    else if (inOrt && line.startsWith("Rss:")) onnxruntime += Number(/(\d+) kB/.exec(line)![1]);
  }
  return { rss: kib("VmRSS") / 1024, anon: kib("RssAnon") / 1024, file: (kib("RssFile") + kib("RssShmem")) / 1024, onnxruntime: onnxruntime / 1024 };
}

/**
 * Spawns `cmd` and waits for its "listening on" line.
 * @throws when it exits or stays silent for 15 s
 */
export async function startServer(cmd: string[], env: Record<string, string> = {}, cwd?: string): Promise<ServerProcess> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited before listening:\n${text}`);
    text += decoder.decode(value, { stream: true });
    url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
  }
  const startMs = performance.now() - started;
  clearTimeout(timer);
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return {
    url,
    pid: proc.pid,
    startMs,
    rssMiB: () => rssMiB(proc.pid),
    samplePeak() {
      let peak = rssMiB(proc.pid);
      const timer = setInterval(() => (peak = Math.max(peak, rssMiB(proc.pid))), 50);
      return () => {
        clearInterval(timer);
        return Math.max(peak, rssMiB(proc.pid));
      };
    },
    async stop() {
      proc.kill("SIGTERM");
      const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await proc.exited;
      clearTimeout(killer);
    },
  };
}
