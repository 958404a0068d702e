/**
 * Newline-delimited JSON framing, as Ollama streams (https://github.com/ndjson/ndjson-spec: one JSON
 * text per line, `\n` separated, media type `application/x-ndjson`). Pure: no I/O.
 */

const encoder = new TextEncoder();

export const NDJSON_CONTENT_TYPE = "application/x-ndjson";

/** Encodes `value` as one NDJSON line (JSON text + `\n`) in bytes. */
export function encodeNDJSON(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value)}\n`);
}

/**
 * Incremental NDJSON parser. Feed it bytes split anywhere (inside a line, inside a multi-byte
 * character); it returns every value whose line is complete. Blank lines are skipped.
 */
export class NDJSONParser {
  private readonly decoder = new TextDecoder();
  private buffer = "";

  /**
   * @returns the values of the lines completed by this chunk, in order
   * @throws SyntaxError when a completed line is not valid JSON (the lines before it are lost)
   */
  push(chunk: Uint8Array | string): unknown[] {
    const text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    // Only the new text can hold the next newline: no rescanning of what is already buffered.
    let nl = text.indexOf("\n");
    if (nl < 0) {
      this.buffer += text;
      return [];
    }
    const values: unknown[] = [];
    let line = this.buffer + text.slice(0, nl);
    for (;;) {
      if (line.trim() !== "") values.push(JSON.parse(line));
      const start = nl + 1;
      nl = text.indexOf("\n", start);
      if (nl < 0) {
        this.buffer = text.slice(start);
        return values;
      }
      line = text.slice(start, nl);
    }
  }

  /**
   * Parses a last line left without its newline at the end of the stream.
   * @throws SyntaxError when it is not valid JSON
   */
  end(): unknown[] {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = "";
    return rest.trim() === "" ? [] : [JSON.parse(rest)];
  }
}
