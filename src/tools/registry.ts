/**
 * Where the proxy's own tools are looked up: the ToolSources of one running config (built-ins,
 * each augmented model's skills, MCP servers) and, per augmented model, the ToolSet it is offered.
 *
 * `runTool` is the one place a proxy-owned tool is called from (tool loop and templates): it bounds
 * the call by its timeout and the client's signal even when a source does not, and turns a throw or
 * a malformed result into an error result (`{"error": "..."}`) the model can read.
 */
import type { Tool } from "../protocol/openai.ts";
import type { ToolResult, ToolSource } from "./source.ts";

/** A tool and the source that runs it. */
export interface OwnedTool {
  source: ToolSource;
  tool: Tool;
}

/** An error result in the shape the model sees: `{"error": message}`. */
function errorResult(message: string): ToolResult {
  return { content: JSON.stringify({ error: message }), isError: true };
}

/** A source's result made safe: content a string, an error as `{"error": ...}` JSON. */
function normalise(name: string, result: unknown): ToolResult {
  const r = result as Partial<ToolResult> | null | undefined;
  if (!r || typeof r !== "object" || typeof r.content !== "string") return errorResult(`tool ${name} returned an invalid result`);
  if (!r.isError) return { content: r.content };
  try {
    const parsed = JSON.parse(r.content) as unknown;
    if (parsed && typeof parsed === "object" && "error" in parsed) return { content: r.content, isError: true };
  } catch {
    // plain text: wrapped below
  }
  return errorResult(r.content || `tool ${name} failed`);
}

export interface RunToolOptions {
  /** The client's disconnect signal: aborting it rejects the call with its reason. */
  signal?: AbortSignal;
  timeoutMs: number;
  onProgress?: (message: string) => void;
}

/**
 * Calls `name` on `source`, bounded by `options.timeoutMs`.
 * @returns the result; an error result when the tool fails, throws, times out or returns garbage
 * @throws the signal's reason when `options.signal` aborts (the client went away)
 */
export async function runTool(source: ToolSource, name: string, args: Record<string, unknown>, options: RunToolOptions): Promise<ToolResult> {
  const outer = options.signal;
  if (outer?.aborted) throw outer.reason;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<ToolResult>((resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`tool ${name} timed out`));
      resolve(errorResult(`tool ${name} timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    onAbort = () => {
      controller.abort(outer!.reason);
      reject(outer!.reason);
    };
    outer?.addEventListener("abort", onAbort, { once: true });
  });
  const called = Promise.resolve()
    .then(() => source.call(name, args, { signal: controller.signal, timeoutMs: options.timeoutMs, onProgress: options.onProgress }))
    .then(
      (result) => normalise(name, result),
      (err: unknown) => errorResult(`tool ${name} failed: ${(err as Error)?.message ?? String(err)}`),
    );
  try {
    return await Promise.race([called, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) outer?.removeEventListener("abort", onAbort);
  }
}

/** The proxy-owned tools one augmented model is offered, by name. */
export class ToolSet {
  private readonly byName = new Map<string, OwnedTool>();

  constructor(entries: Iterable<OwnedTool>) {
    for (const entry of entries) if (!this.byName.has(entry.tool.function.name)) this.byName.set(entry.tool.function.name, entry);
  }

  /** The definitions, in the order given. */
  get tools(): Tool[] {
    return [...this.byName.values()].map((e) => e.tool);
  }

  get(name: string): OwnedTool | undefined {
    return this.byName.get(name);
  }

  /** A copy without the tools named in `names` (tools a client defines itself win). */
  without(names: ReadonlySet<string>): ToolSet {
    return new ToolSet([...this.byName.values()].filter((e) => !names.has(e.tool.function.name)));
  }
}

/** The tool sources of one running config. Names are unique; on a clash the first source wins a tool name. */
export class ToolRegistry {
  private readonly sources = new Map<string, ToolSource>();

  /** @throws Error when two sources share a name */
  constructor(sources: Iterable<ToolSource> = []) {
    for (const source of sources) this.add(source);
  }

  /** @throws Error when a source of that name is already registered */
  add(source: ToolSource): void {
    if (this.sources.has(source.name)) throw new Error(`tool source ${source.name} is registered twice`);
    this.sources.set(source.name, source);
  }

  get(name: string): ToolSource | undefined {
    return this.sources.get(name);
  }

  get all(): ToolSource[] {
    return [...this.sources.values()];
  }

  /** The source that runs tool `name` now (first registered wins), with the tool's definition. */
  find(name: string): OwnedTool | undefined {
    for (const source of this.sources.values()) {
      const tool = source.list().find((t) => t.function.name === name);
      if (tool) return { source, tool };
    }
    return undefined;
  }

  /** Closes every source; failures are logged, not thrown. */
  async close(): Promise<void> {
    await Promise.all(
      this.all.map((s) => s.close?.().catch((err: Error) => console.error(`llm-proxy: closing tool source ${s.name} failed: ${err.message}`))),
    );
  }
}
