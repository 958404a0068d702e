/**
 * Sends one HTTP/1.1 request exactly as written (request line, Host header or none) over a plain
 * TCP socket, for request targets and headers that fetch would normalise away. For tests only.
 */
import { connect } from "node:net";

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * @param target the request-target as sent: "/path?q", "http://host/path" (absolute form), "*"
 * @param host the Host header's value, or null for none
 * @returns the parsed reply (chunked bodies decoded), or status 0 when the connection closed without one
 */
export function rawRequest(port: number, method: string, target: string, host: string | null, headers: Record<string, string> = {}, body = ""): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const lines = [`${method} ${target} HTTP/1.1`];
    if (host !== null) lines.push(`Host: ${host}`);
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    lines.push("Connection: close", "", body);
    const socket = connect(port, "127.0.0.1", () => socket.write(lines.join("\r\n")));
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => resolve(parseReply(Buffer.concat(chunks).toString("utf8"))));
  });
}

function parseReply(text: string): RawReply {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: text };
  const [statusLine, ...headerLines] = text.slice(0, end).split("\r\n");
  const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  let body = text.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") {
    let out = "";
    for (let at = 0; ; ) {
      const lineEnd = body.indexOf("\r\n", at);
      const size = parseInt(body.slice(at, lineEnd), 16);
      if (!size) break;
      out += body.slice(lineEnd + 2, lineEnd + 2 + size);
      at = lineEnd + 2 + size + 2;
    }
    body = out;
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body };
}
