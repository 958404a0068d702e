/**
 * Inbound API keys. When `auth.keys` or `auth.key_sha256` is set, every route except `/health` needs
 * `Authorization: Bearer <key>` or `x-api-key: <key>`. Keys are compared as SHA-256 digests with
 * `timingSafeEqual`, so neither the content nor the length of a key leaks through timing.
 *
 * Admin surfaces (`/ui`, `/admin/*`, `/metrics`: they show conversations) follow their own rule,
 * `admitAdmin()`: with `auth.admin_keys`/`admin_key_sha256` set, only an admin key opens them (from
 * any address); without, they answer loopback clients only (and no request a reverse proxy forwarded),
 * with a client key when client keys are set.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../config/schema.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** Paths reachable without a key. */
const OPEN_PATHS = new Set(["/health"]);

/** True for the admin surfaces: the dashboard, the admin API and the metrics. */
export function isAdminPath(pathname: string): boolean {
  return pathname === "/ui" || pathname.startsWith("/ui/") || pathname.startsWith("/admin/") || pathname === "/admin" || pathname === "/metrics";
}

/** True for a loopback address (IPv4 127/8, ::1, and IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** Headers a reverse proxy adds (RFC 7239 and the de-facto ones). */
const FORWARDED = ["forwarded", "x-forwarded-for", "x-real-ip"];

/** What `admitAdmin` decided: `ok`, or the status to refuse with (401 no/wrong key, 403 not allowed). */
export type AdminVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** True when `digest` equals one of `digests`, compared against every one (no early exit) so the position of a match does not leak either. */
function matches(digests: readonly Buffer[], digest: Buffer): boolean {
  let ok = false;
  for (const d of digests) if (d.length === digest.length && timingSafeEqual(d, digest)) ok = true;
  return ok;
}

const digestsOf = (plain: readonly string[], hex: readonly string[]) => [...plain.map(sha256), ...hex.map((h) => Buffer.from(h.trim().toLowerCase(), "hex"))];

export class KeyCheck {
  private readonly digests: Buffer[];
  private readonly adminDigests: Buffer[];

  constructor(auth: Config["auth"]) {
    this.digests = digestsOf(auth.keys, auth.key_sha256);
    this.adminDigests = digestsOf(auth.admin_keys ?? [], auth.admin_key_sha256 ?? []);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** True when admin keys are configured. */
  get adminEnabled(): boolean {
    return this.adminDigests.length > 0;
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

  /** True when the request carries one of the admin keys (never to be forwarded upstream). */
  presentsAdminKey(headers: Headers): boolean {
    const key = KeyCheck.presented(headers);
    return key !== undefined && this.adminEnabled && matches(this.adminDigests, sha256(key));
  }

  /** True when `pathname` (not an admin surface) may be served with the given headers; an admin key opens client routes too. */
  allows(pathname: string, headers: Headers): boolean {
    if (!this.enabled || OPEN_PATHS.has(pathname)) return true;
    const key = KeyCheck.presented(headers);
    if (!key) return false;
    const digest = sha256(key);
    return matches(this.digests, digest) || matches(this.adminDigests, digest);
  }

  /**
   * The rule of the admin surfaces (see the module comment). `/ui` itself is the page's code and holds
   * no data, so it is served without a key (the page then asks for one); a key sent to it must still
   * be right.
   * @param clientAddress the peer's IP address (Bun's `server.requestIP`)
   */
  admitAdmin(pathname: string, headers: Headers, clientAddress: string | undefined): AdminVerdict {
    const key = KeyCheck.presented(headers);
    const shell = (pathname === "/ui" || pathname === "/ui/") && key === undefined;
    if (this.adminEnabled) {
      if (shell) return { ok: true };
      if (!key) return { ok: false, status: 401, message: "This is an admin surface: send an admin key as 'Authorization: Bearer <key>'." };
      const digest = sha256(key);
      if (matches(this.adminDigests, digest)) return { ok: true };
      if (matches(this.digests, digest)) return { ok: false, status: 403, message: "A client key does not open admin surfaces: use a key from auth.admin_keys." };
      return { ok: false, status: 401, message: "Incorrect admin key." };
    }
    // A reverse proxy on the same machine connects from loopback for every client it serves: a
    // forwarded request is not a local one.
    if (!isLoopback(clientAddress) || FORWARDED.some((h) => headers.has(h))) {
      return { ok: false, status: 403, message: "Admin surfaces answer only loopback clients (not forwarded requests) unless auth.admin_keys is set." };
    }
    if (shell || !this.enabled) return { ok: true };
    return this.allows(pathname, headers) ? { ok: true } : { ok: false, status: 401, message: "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'." };
  }
}
