/**
 * The MCP stdio transport on `Bun.spawn`: one more implementation of the SDK's `Transport`
 * interface (start, send, close, onmessage/onerror/onclose), speaking newline-delimited JSON-RPC
 * over the child's stdin/stdout with the SDK's own framing (`ReadBuffer`, `serializeMessage`).
 * Spec: https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#stdio
 *
 * The child runs in its own process group (`detached`: setsid), so `close()` signals the whole
 * group: `npx`/`uvx` wrappers and the servers they start go together. The direct child is reaped
 * by Bun; grandchildren are reparented to init (run the proxy under an init such as tini when it
 * is PID 1 of a container).
 */
import type { Subprocess } from "bun";
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

export interface StdioServerOptions {
  command: string;
  args?: string[];
  /** Added to a minimal inherited environment (HOME, PATH, USER, ...; the SDK's default list), so
   * the proxy's own secrets do not leak into every server. */
  env?: Record<string, string>;
  cwd?: string;
  /** One line of the server's stderr, without the newline. */
  onStderr?: (line: string) => void;
  /** How long a closing server may take to exit after SIGTERM before its group gets SIGKILL, ms. */
  killGraceMs?: number;
}

/** A stderr line longer than this is cut: a server dumping a blob must not flood the log. */
const MAX_STDERR_LINE = 2000;
/** Last stderr lines (and characters of each) quoted in the exit reason. */
const STDERR_TAIL_LINES = 3;
const STDERR_TAIL_CHARS = 200;
/** After a broken pipe, how long to wait for the exit status that explains it. */
const EXIT_WAIT_MS = 200;
/** After the leader exited, how long the rest of its group may take before SIGKILL. */
const GROUP_WAIT_MS = 200;
/** Node and Python servers exit within tens of ms of SIGTERM; 2 s also covers npx forwarding it. */
const DEFAULT_KILL_GRACE_MS = 2000;

/** Process groups still alive, killed synchronously when the proxy exits without closing them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const group of liveGroups) signalGroup(group, "SIGKILL");
  });
}

/** Sends `signal` to every process of group `pgid`; false when none is left. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The SDK `Transport` over a `Bun.spawn`ed child: `start()` spawns it in its own process group,
 * `send()` writes one JSON-RPC message per line, `close()` sends SIGTERM to the group and SIGKILL
 * after `killGraceMs`. `onclose` fires once, with the exit reason (code, signal, stderr tail) in `onerror` first.
 */
export class BunStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private proc: Subprocess<"pipe", "pipe", "pipe"> | undefined;
  private readonly buffer = new ReadBuffer();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The server's last stderr lines, quoted when it exits (why it crashed is usually there). */
  private readonly stderrTail: string[] = [];

  constructor(private readonly options: StdioServerOptions) {}

  /** The child's pid (also its process group id), once started. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * Spawns the server.
   * @throws when the command cannot be started (not found, not executable, bad cwd)
   */
  async start(): Promise<void> {
    if (this.proc || this.closed) throw new Error("BunStdioTransport already started");
    const { command, args = [], env = {}, cwd } = this.options;
    try {
      this.proc = Bun.spawn({
        cmd: [command, ...args],
        cwd,
        env: { ...getDefaultEnvironment(), ...env },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        detached: true,
      });
    } catch (err) {
      const { code, message } = err as { code?: string; message: string };
      throw new Error(code === "ENOENT" ? `cannot start '${command}': not found (check command and cwd)` : `cannot start '${command}': ${message}`);
    }
    const proc = this.proc;
    trackGroup(proc.pid);
    void this.readStdout(proc);
    void this.readStderr(proc);
    void proc.exited.then(() => {
      // A server that exits on its own may leave children behind (npx -> node): end the group too.
      if (!this.closing) signalGroup(proc.pid, "SIGKILL");
      liveGroups.delete(proc.pid);
      if (!this.closing) this.onerror?.(new Error(this.exitReason(proc)));
      this.finish();
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const proc = this.proc;
    if (!proc || this.closed || proc.exitCode !== null) throw new Error(proc ? this.exitReason(proc) : "Not connected: the server process is not running");
    try {
      proc.stdin.write(serializeMessage(message));
      await proc.stdin.flush();
    } catch (err) {
      // EPIPE: the process is exiting; its exit status says more than the broken pipe.
      await Promise.race([proc.exited, Bun.sleep(EXIT_WAIT_MS)]);
      throw new Error(proc.exitCode !== null || proc.signalCode ? this.exitReason(proc) : (err as Error).message);
    }
  }

  /** "server process exited (code 3); stderr: ..." with the last lines the server wrote. */
  private exitReason(proc: Subprocess): string {
    const status = proc.signalCode ?? `code ${proc.exitCode}`;
    return `server process exited (${status})${this.stderrTail.length ? `; stderr: ${this.stderrTail.join(" | ")}` : ""}`;
  }

  /** Ends stdin, SIGTERMs the process group, SIGKILLs it after the grace period; resolves once the child has exited. */
  close(): Promise<void> {
    this.closing ??= this.terminate();
    return this.closing;
  }

  private async terminate(): Promise<void> {
    const proc = this.proc;
    if (!proc) return this.finish();
    try {
      proc.stdin.end();
    } catch {
      // stdin is already closed when the process is gone
    }
    signalGroup(proc.pid, "SIGTERM");
    const grace = this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    const deadline = Date.now() + grace;
    await Promise.race([proc.exited, Bun.sleep(grace)]);
    // The rest of the group (a server behind a wrapper) gets a moment more, then SIGKILL. Exited
    // grandchildren stay in the group as zombies until init reaps them, so "group empty" cannot be
    // the only way out of this wait.
    const groupDeadline = Math.min(deadline, Date.now() + GROUP_WAIT_MS);
    while (signalGroup(proc.pid, 0) && Date.now() < groupDeadline) await Bun.sleep(20);
    signalGroup(proc.pid, "SIGKILL");
    await proc.exited;
    liveGroups.delete(proc.pid);
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    this.onclose?.();
  }

  private async readStdout(proc: Subprocess<"pipe", "pipe", "pipe">): Promise<void> {
    try {
      for await (const chunk of proc.stdout) {
        this.buffer.append(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = this.buffer.readMessage();
          } catch (err) {
            // A line that is not JSON-RPC (a server printing to stdout): reported, not fatal.
            this.onerror?.(new Error(`invalid JSON-RPC line from the server: ${(err as Error).message}`));
            continue;
          }
          if (message === null) break;
          this.onmessage?.(message);
        }
      }
    } catch (err) {
      // ReadBuffer over its size limit, or the pipe broke: the connection is unusable.
      this.onerror?.(err as Error);
      void this.close();
    }
  }

  private async readStderr(proc: Subprocess<"pipe", "pipe", "pipe">): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of proc.stderr) {
        pending += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf("\n")) !== -1) {
          const line = pending.slice(0, newline).replace(/\r$/, "");
          pending = pending.slice(newline + 1);
          if (line.trim()) this.stderrLine(line.slice(0, MAX_STDERR_LINE));
        }
        if (pending.length > MAX_STDERR_LINE) {
          this.stderrLine(pending.slice(0, MAX_STDERR_LINE));
          pending = "";
        }
      }
    } catch {
      // stderr closed with the process
    }
    if (pending.trim()) this.stderrLine(pending.slice(0, MAX_STDERR_LINE));
  }

  private stderrLine(line: string): void {
    this.stderrTail.push(line.length > STDERR_TAIL_CHARS ? `${line.slice(0, STDERR_TAIL_CHARS)}...` : line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    this.options.onStderr?.(line);
  }
}
