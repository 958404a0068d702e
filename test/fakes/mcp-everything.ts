/**
 * The real MCP reference server, @modelcontextprotocol/server-everything, for tests: its stdio
 * command line, and its SSE (`/sse`) and Streamable HTTP (`/mcp`) servers started on a given port
 * (it cannot report a port it picked itself: `freePort()` asks the OS for one) and stopped by PID.
 */
import { join } from "node:path";

export const EVERYTHING_JS = join(import.meta.dir, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

/** `command` and `args` that start the server over stdio with this Bun. */
export const everythingStdio = () => ({ command: process.execPath, args: [EVERYTHING_JS, "stdio"] });

const running = new Set<{ kill(signal: "SIGKILL"): void; exited: Promise<number> }>();

/** Stops every server this module started and has not stopped yet (for afterAll). */
export async function stopAllEverything(): Promise<void> {
  await Promise.all([...running].map((p) => (p.kill("SIGKILL"), p.exited)));
  running.clear();
}

/**
 * A loopback port the OS reports free now, for a server that cannot listen on port 0 itself. Fixed
 * ports collided when several checkouts ran the suite on one machine. Another process could take the
 * port before the server binds it: startEverythingHttp then refuses it ("already in use").
 */
export function freePort(): number {
  for (;;) {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    // The OS may hand out a port again once it is closed: never give one out twice.
    if (!handedOut.has(port)) return handedOut.add(port), port;
  }
}
const handedOut = new Set<number>();

export interface EverythingHttp {
  /** The MCP endpoint: http://127.0.0.1:PORT/sse or /mcp */
  url: string;
  pid: number;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Every request line the server logged (Streamable HTTP logs one per request). */
  log: string[];
}

/** Starts the server with `mode` ("sse" or "streamableHttp") on `port` and waits until it accepts connections. */
export async function startEverythingHttp(mode: "sse" | "streamableHttp", port: number): Promise<EverythingHttp> {
  // Bun listens with SO_REUSEPORT: a leftover server on the port would silently share it.
  if (await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false)) throw new Error(`port ${port} is already in use`);
  const proc = Bun.spawn([process.execPath, EVERYTHING_JS, mode], { env: { ...process.env, PORT: String(port) }, stdout: "pipe", stderr: "pipe" });
  running.add(proc);
  const log: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      for await (const chunk of stream) log.push(...new TextDecoder().decode(chunk).split("\n").filter(Boolean));
    })();
  }
  const path = mode === "sse" ? "/sse" : "/mcp";
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`server-everything ${mode} exited: ${log.join("\n")}`);
    const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
    if (up) break;
    if (i > 200) throw new Error(`server-everything ${mode} did not listen on ${port}`);
    await Bun.sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}${path}`,
    pid: proc.pid,
    log,
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
      running.delete(proc);
    },
  };
}
