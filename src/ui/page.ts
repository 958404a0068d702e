/**
 * The dashboard page as served: the HTML text built into the code by the macro (embed.ts), its
 * gzipped bytes and the CSP hash of its one inline script. Imported on the first `GET /ui`
 * (src/server/ui.ts), so that under `bun run` the bundling happens then, not at every start.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { dashboardPage } from "./embed.ts" with { type: "macro" };

/** The page, HTML. */
export const PAGE: string = dashboardPage();
/** The page gzipped (level 9), for clients that accept it. */
export const PAGE_GZIP: Uint8Array = gzipSync(PAGE, { level: 9 });
/** The CSP hash (base64 SHA-256) of the page's one inline script: the only script the browser will run. */
export const SCRIPT_HASH = createHash("sha256").update(/<script type="module">([\s\S]*)<\/script>/.exec(PAGE)?.[1] ?? "").digest("base64");

/** The page's size in bytes, raw and gzipped (docs, tests). */
export function pageSize(): { bytes: number; gzip: number } {
  return { bytes: Buffer.byteLength(PAGE), gzip: PAGE_GZIP.byteLength };
}
