/**
 * X-Request-Id: the client's own id is kept when it is sane (1-128 visible ASCII characters),
 * otherwise a UUID is made. Memoised per Request so every layer sees the same id.
 */
const ids = new WeakMap<Request, string>();
const SANE = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(request: Request): string {
  let id = ids.get(request);
  if (id === undefined) {
    const sent = request.headers.get("x-request-id");
    id = sent && SANE.test(sent) ? sent : crypto.randomUUID();
    ids.set(request, id);
  }
  return id;
}
