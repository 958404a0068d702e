/**
 * Server-Sent Events framing as OpenAI-compatible servers use it (WHATWG HTML "server-sent events":
 * lines `data: ...`, events separated by a blank line; the stream ends with `data: [DONE]`).
 * Pure: no I/O.
 */

const encoder = new TextEncoder();

/** Encodes one event carrying `data` (an object is JSON-encoded) as bytes. */
export function encodeSSE(data: unknown): Uint8Array {
  return encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

export const SSE_DONE = "[DONE]";

/**
 * Incremental SSE parser. Feed it bytes split anywhere (inside a line, inside `data:`, inside a
 * multi-byte character); it returns the `data` payload of every event completed so far.
 * Comments (`:`) and other fields (event, id, retry) are ignored.
 */
export class SSEParser {
  private readonly decoder = new TextDecoder();
  private buffer = "";
  private data: string[] = [];

  /** @returns the data strings of the events completed by this chunk, in order */
  push(chunk: Uint8Array | string): string[] {
    this.buffer += typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const nl = this.buffer.indexOf("\n", start);
      if (nl < 0) break;
      let line = this.buffer.slice(start, nl);
      start = nl + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.data.length > 0) events.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        this.data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
      }
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** Flushes an event left unterminated at the end of the stream. */
  end(): string[] {
    const rest = this.push("\n\n");
    this.buffer = "";
    return rest;
  }
}
