/**
 * `GET /ui`: the dashboard page (src/ui/), one HTML document with its script and styles inline,
 * built into the code at bundle time by a macro, served gzipped to clients that accept it. The page
 * holds no data: it reads the admin API with the admin key the user gives it (docs/dashboard.md).
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { Elysia } from "elysia";
import { dashboardPage } from "../ui/embed.ts" with { type: "macro" };

const PAGE: string = dashboardPage();
/** The CSP hash of the page's one inline script: the only script the browser will run. */
const SCRIPT_HASH = createHash("sha256").update(/<script type="module">([\s\S]*)<\/script>/.exec(PAGE)?.[1] ?? "").digest("base64");
let gzipped: Uint8Array | undefined;

/** The page's size in bytes, raw and gzipped (docs, tests). */
export function pageSize(): { bytes: number; gzip: number } {
  gzipped ??= gzipSync(PAGE, { level: 9 });
  return { bytes: Buffer.byteLength(PAGE), gzip: gzipped.byteLength };
}

export function uiRoutes() {
  const serve = ({ request }: { request: Request }) => {
    const headers: Record<string, string> = {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      // Everything the page needs is inline; it talks only to this proxy.
      "content-security-policy": `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; frame-ancestors 'none'`,
      "x-content-type-options": "nosniff",
      vary: "accept-encoding",
    };
    if (/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) {
      gzipped ??= gzipSync(PAGE, { level: 9 });
      return new Response(gzipped, { headers: { ...headers, "content-encoding": "gzip" } });
    }
    return new Response(PAGE, { headers });
  };
  return new Elysia({ name: "ui" }).get("/ui", serve).get("/ui/", serve);
}
