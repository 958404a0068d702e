/**
 * `GET /ui`: the dashboard page (src/ui/), one HTML document with its script and styles inline,
 * built into the code at bundle time by a macro (src/ui/page.ts, loaded on the first request),
 * served gzipped to clients that accept it. The page holds no data: it reads the admin API with the
 * admin key the user gives it (docs/dashboard.md).
 */
import { Elysia } from "elysia";

export function uiRoutes() {
  const serve = async ({ request }: { request: Request }) => {
    const { PAGE, PAGE_GZIP, SCRIPT_HASH } = await import("../ui/page.ts");
    const headers: Record<string, string> = {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      // Everything the page needs is inline; it talks only to this proxy.
      "content-security-policy": `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; frame-ancestors 'none'`,
      "x-content-type-options": "nosniff",
      vary: "accept-encoding",
    };
    if (/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) {
      return new Response(PAGE_GZIP, { headers: { ...headers, "content-encoding": "gzip" } });
    }
    return new Response(PAGE, { headers });
  };
  return new Elysia({ name: "ui" }).get("/ui", serve).get("/ui/", serve);
}
