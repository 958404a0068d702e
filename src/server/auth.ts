/**
 * Inbound API keys. When `auth.keys` or `auth.key_sha256` is set, every route except `/health` needs
 * `Authorization: Bearer <key>` or `x-api-key: <key>`. Keys are compared as SHA-256 digests with
 * `timingSafeEqual`, so neither the content nor the length of a key leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../config/schema.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** Paths reachable without a key. */
const OPEN_PATHS = new Set(["/health"]);

export class KeyCheck {
  private readonly digests: Buffer[];

  constructor(auth: Config["auth"]) {
    this.digests = [...auth.keys.map(sha256), ...auth.key_sha256.map((hex) => Buffer.from(hex.trim().toLowerCase(), "hex"))];
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The key the client sent, if any. */
  static presented(headers: Headers): string | undefined {
    const auth = headers.get("authorization");
    if (auth) {
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      return m ? m[1]!.trim() : undefined;
    }
    return headers.get("x-api-key") ?? undefined;
  }

  /** True when `pathname` may be served with the given headers. */
  allows(pathname: string, headers: Headers): boolean {
    if (!this.enabled || OPEN_PATHS.has(pathname)) return true;
    const key = KeyCheck.presented(headers);
    if (!key) return false;
    const digest = sha256(key);
    let ok = false;
    // Compare against every key (no early exit) so the position of a match does not leak either.
    for (const d of this.digests) if (d.length === digest.length && timingSafeEqual(d, digest)) ok = true;
    return ok;
  }
}
