/**
 * The request body limit (`server.body_limit_bytes`), answered in the client's protocol.
 *
 * Bun's own `maxRequestBodySize` answers an empty 413 and closes the connection, so it only backs
 * ours up: a declared Content-Length over the limit is refused before anything is read, and a
 * chunked body (no Content-Length) is read up to the limit and refused as soon as it passes it.
 */

import { remakeRequest } from "./request-target.ts";

/** What the handler should do with a request: go on with it (maybe re-made with its body read), or refuse it. */
export type BodyCheck = { ok: true; request: Request } | { ok: false; bytes: number };

/**
 * Checks `request` against `limit` bytes.
 * @returns the request to serve (the same one, or a copy carrying the buffered chunked body, the
 *   client's signal and `requestId` as X-Request-Id), or `ok: false` with the bytes seen so far
 */
export async function checkBodyLimit(request: Request, limit: number, requestId: string): Promise<BodyCheck> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const bytes = Number(declared);
    return bytes > limit ? { ok: false, bytes } : { ok: true, request };
  }
  if (!request.body) return { ok: true, request };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      // The rest is not wanted: stop reading and let Bun discard it.
      reader.cancel().catch(() => {});
      return { ok: false, bytes };
    }
    chunks.push(value);
  }
  return { ok: true, request: remakeRequest(request, { body: Buffer.concat(chunks) }, requestId) };
}
