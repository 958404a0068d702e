/**
 * Proxy-owned tools: the one small interface every source of tools the proxy runs itself
 * implements (built-ins, MCP servers, skills' load_skill), so the tool loop, templates and tool
 * selection never know which kind of source they talk to.
 *
 * Tools are described in the OpenAI Chat Completions `tools[]` shape (the canonical form, see
 * src/protocol/openai.ts); arguments arrive already parsed from the model's JSON string.
 */
import type { Tool } from "../protocol/openai.ts";

/** The outcome of one call, as the model will see it in a `tool` message. */
export interface ToolResult {
  /** Text for the `tool` message's content (JSON text for structured results). */
  content: string;
  /** True when the call failed (thrown, timed out, rejected arguments, MCP `isError`). */
  isError?: boolean;
}

export interface ToolCallOptions {
  /** Aborted when the client disconnects or the proxy shuts down; a source must stop work on it. */
  signal?: AbortSignal;
  /** Wall-clock limit for the call, ms; past it the call resolves with an error result. */
  timeoutMs: number;
  /** Progress reported by long calls (MCP progress notifications), for status events. */
  onProgress?: (message: string) => void;
}

/**
 * A source of proxy-owned tools.
 *
 * - `list()` returns the tools that can run now (a source that is down returns none), by the
 *   names the model sees; it must be cheap (cached by the source).
 * - `call()` never throws for a tool's own failure (bad arguments, unknown tool, timeout, a
 *   server error): it resolves with `{isError: true}` and a short message the model can act on.
 *   It rejects only when `signal` aborts.
 *
 * The tool loop also bounds every call itself (registry.ts `runTool`), so a source that overruns
 * its timeout or throws still gives the model an error result. test/tools/conformance.ts is the
 * suite every implementation runs.
 */
export interface ToolSource {
  /** Unique among the sources of one model (e.g. "builtin", "mcp:homeassistant"). */
  readonly name: string;
  list(): Tool[];
  call(name: string, args: Record<string, unknown>, options: ToolCallOptions): Promise<ToolResult>;
  /** Releases connections and child processes. */
  close?(): Promise<void>;
}
