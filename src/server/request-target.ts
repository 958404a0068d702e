/**
 * The request target: the one path the proxy both authorises and routes on.
 *
 * Bun builds `request.url` from the Host header and the request line as sent, so it can be odd:
 * `http://x/health?/v1/chat/completions` (a short Host), `/health` (an empty or malformed Host: not
 * a URL at all), `http://localhost/health#/v1/models`. Elysia does not parse the URL: it takes the
 * path from `request.url.indexOf("/", 11)` (elysia adapter/web-standard and adapter/bun/compose,
 * "standardHostname"), which with a Host shorter than 4 characters starts inside the path or the
 * query. The WHATWG parse used for the key check and Elysia's cut then disagree, and a key check on
 * `/health` would let a route chosen by the query string run.
 *
 * So the target is parsed once, and a request whose URL Elysia would not cut exactly at that path
 * is re-made with a URL it does: `http://llm-proxy` + pathname + search.
 */

/** The origin of re-made requests: longer than Elysia's 11-character skip, and never a real host. */
const ROUTING_ORIGIN = "http://llm-proxy";

/** Elysia skips this many characters of `request.url` before looking for the path's "/". */
const ELYSIA_PATH_SEARCH_FROM = 11;

export interface RequestTarget {
  /** The path as parsed by WHATWG URL rules (dot segments resolved, percent-escapes kept). */
  pathname: string;
  /** "?..." or "". */
  search: string;
  /** The URL to hand to the router: `request.url` when it already routes on `pathname`, else a canonical one. */
  url: string;
}

/** Parses `request.url` into the target to authorise and route on; undefined when it cannot be parsed at all. */
export function requestTarget(request: Request): RequestTarget | undefined {
  const parsed = URL.parse(request.url, ROUTING_ORIGIN);
  if (!parsed) return undefined;
  const { pathname, search } = parsed;
  const routable = parsed.origin.length >= ELYSIA_PATH_SEARCH_FROM && request.url === parsed.origin + pathname + search;
  return { pathname, search, url: routable ? request.url : ROUTING_ORIGIN + pathname + search };
}

/**
 * A copy of `request` with another URL and/or body: the same method, headers and client signal, and
 * `requestId` as X-Request-Id (the copy is a new object: every layer must still see the id already
 * answered with). A new body drops Transfer-Encoding: the copy's body is complete.
 */
export function remakeRequest(request: Request, changes: { url?: string; body?: Uint8Array }, requestId: string): Request {
  const headers = new Headers(request.headers);
  headers.set("x-request-id", requestId);
  if (changes.body) headers.delete("transfer-encoding");
  // fetch refuses a GET or HEAD with a body; such a body is not read by any route either.
  const body = request.method === "GET" || request.method === "HEAD" ? null : (changes.body ?? request.body);
  return new Request(changes.url ?? request.url, { method: request.method, headers, body, signal: request.signal, duplex: "half" } as RequestInit);
}
