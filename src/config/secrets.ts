/**
 * The secret values of a config (upstream api_keys and credential headers, inbound client and admin keys) and their
 * redaction from text that leaves the proxy: request-log rows and upstream error bodies (some
 * servers echo the key they were sent in their 401 message).
 */
import type { McpServerConfig } from "./mcp.ts";
import type { Config, UpstreamConfig } from "./schema.ts";

/** Header names that carry credentials. */
const CREDENTIAL_HEADER = /(authorization|api[-_]?key|token|secret|cookie)/i;

/** Shorter values are not treated as secrets: redacting them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6;

/** The password of a `https://user:password@host/` URL, as written and decoded. */
function urlPassword(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

/** The upstream's own credentials: its api_key, the password in its base_url and the values of its credential headers. */
export function upstreamSecrets(upstream: UpstreamConfig): string[] {
  const values = [upstream.api_key, ...urlPassword(upstream.base_url)];
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (CREDENTIAL_HEADER.test(name)) values.push(value.replace(/^(Bearer|Basic)\s+/i, ""), value);
  }
  return values.filter((v) => v.length >= MIN_SECRET_LENGTH);
}

/** Environment variable names of an MCP server that hold credentials. */
const CREDENTIAL_ENV = /(key|token|secret|password|auth|cookie)/i;

/**
 * An MCP server's credentials: its credential headers, secret-looking env values and the password
 * in its URL, longest first (kept out of /health, logs and tool results).
 */
export function mcpServerSecrets(server: McpServerConfig): string[] {
  const values = server.url ? urlPassword(server.url) : [];
  for (const [name, value] of Object.entries(server.headers)) {
    if (CREDENTIAL_HEADER.test(name)) values.push(value.replace(/^(Bearer|Basic)\s+/i, ""), value);
  }
  for (const [name, value] of Object.entries(server.env)) if (CREDENTIAL_ENV.test(name)) values.push(value);
  return [...new Set(values.filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
}

const memo = new WeakMap<Config, string[]>();

/** Every secret value of `config` (all upstreams' credentials, the plain inbound keys), longest first; memoised per config. */
export function configSecrets(config: Config): string[] {
  let secrets = memo.get(config);
  if (!secrets) {
    const values = [...config.upstreams.flatMap(upstreamSecrets), ...[...config.auth.keys, ...(config.auth.admin_keys ?? [])].filter((k) => k.length >= MIN_SECRET_LENGTH)];
    // Longest first, so a secret containing another is replaced whole.
    secrets = [...new Set(values)].sort((a, b) => b.length - a.length);
    memo.set(config, secrets);
  }
  return secrets;
}

/** `text` with every occurrence of each of `secrets` replaced by "***". */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, "***");
  return out;
}
