/**
 * Loads the configuration: YAML file (optional) -> ${ENV} interpolation -> environment overrides ->
 * command-line overrides -> defaults -> TypeBox validation.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parseDocument } from "yaml";
import { applyEnv } from "./env.ts";
import { interpolate, InterpolationError } from "./interpolate.ts";
import { ConfigSchema, type Config } from "./schema.ts";
import { DomainPackError, loadPacks } from "../selection/domain-pack.ts";

export const DEFAULT_CONFIG_PATH = "conf/llm-proxy.yaml";

/** A config that cannot be used; `message` names the file, the key path, the expectation and the value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface LoadOptions {
  /** File to read; when it is the default path and missing, embedded defaults are used. */
  path?: string;
  env?: Record<string, string | undefined>;
  /** Command-line overrides, applied last. */
  overrides?: { host?: string; port?: number; data_dir?: string };
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when running on embedded defaults. */
  path: string | undefined;
  /** The file held no settings at all (empty, only comments, or `null`). */
  empty: boolean;
  /** Upstreams the file itself lists (without it, the environment's default upstream is used). */
  fileUpstreams: number;
}

/** "/upstreams/0/base_url" -> "upstreams[0].base_url" */
function keyPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), "");
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Reads a YAML file that must hold a mapping (an empty file is `{}`).
 * @throws ConfigError naming the file and the line of a YAML error
 */
export function readDocument(path: string): unknown {
  const text = readFileSync(path, "utf8");
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const where = err.linePos?.[0] ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
    // The yaml package ends its first line with the position again (" at line 3, column 1:").
    const what = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(`${path}: invalid YAML ${where}: ${what}`);
  }
  const value = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${path}: (root): expected a mapping of settings, found ${describe(value)}`);
  }
  return value;
}

/**
 * Fills in `schema`'s defaults and validates `doc` against it.
 * @param label the file named in errors
 * @throws ConfigError with one line per problem, each "file: key.path: expected X, found Y"
 */
export function checkSchema<S extends TSchema>(schema: S, doc: unknown, label: string): Static<S> {
  const value = Value.Default(schema, Value.Convert(schema, doc));
  const problems = [...Value.Errors(schema, value)];
  if (problems.length > 0) {
    const lines = new Map<string, string>();
    for (const p of problems) {
      const at = keyPath(p.path) || "(root)";
      const choices = (p.schema.anyOf as { const?: unknown }[] | undefined)?.map((s) => s.const);
      const expected =
        p.message === "Expected required property"
          ? "expected a value (required)"
          : choices?.length && choices.every((c) => typeof c === "string")
            ? `expected one of ${choices.join(", ")}`
            : p.message.toLowerCase();
      if (!lines.has(at)) lines.set(at, `${label}: ${at}: ${expected}, found ${describe(p.value)}`);
    }
    throw new ConfigError([...lines.values()].join("\n"));
  }
  return value as Static<S>;
}

/**
 * Reads, interpolates and validates the configuration.
 * @throws ConfigError with one line per problem, each "file: key.path: expected X, found Y"
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const requested = options.path ?? env.LLM_PROXY_CONFIG;
  const path = requested ?? DEFAULT_CONFIG_PATH;
  const source = requested ? path : existsSync(path) ? path : undefined;
  if (source && !existsSync(source)) throw new ConfigError(`${source}: file not found`);
  const label = source ?? "(embedded defaults)";

  let doc: Record<string, any>;
  let empty = false;
  let fileUpstreams = 0;
  try {
    const read = source ? (readDocument(source) as Record<string, unknown>) : {};
    empty = source !== undefined && Object.keys(read).length === 0;
    fileUpstreams = Array.isArray(read.upstreams) ? read.upstreams.length : 0;
    doc = interpolate(read, env) as Record<string, any>;
    applyEnv(doc, env);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof InterpolationError) throw new ConfigError(`${label}: ${err.path}: ${err.message}`);
    throw new ConfigError(`${label}: ${(err as Error).message}`);
  }
  const { overrides } = options;
  if (overrides?.host) (doc.server ??= {}).host = overrides.host;
  if (overrides?.port !== undefined) (doc.server ??= {}).port = overrides.port;
  if (overrides?.data_dir) doc.data_dir = overrides.data_dir;

  const config = checkSchema(ConfigSchema, doc, label);
  const names = new Set<string>();
  for (const [i, upstream] of config.upstreams.entries()) {
    if (names.has(upstream.name)) {
      throw new ConfigError(`${label}: upstreams[${i}].name: expected a unique name, found "${upstream.name}" twice`);
    }
    names.add(upstream.name);
  }
  try {
    loadPacks(config.selection.packs);
  } catch (err) {
    if (err instanceof DomainPackError) throw new ConfigError(`${label}: selection.packs: ${err.message}`);
    throw err;
  }
  const embeddings = config.selection.embeddings;
  if (embeddings && !names.has(embeddings.upstream)) {
    throw new ConfigError(`${label}: selection.embeddings.upstream: expected the name of a configured upstream, found "${embeddings.upstream}"`);
  }
  return { config, path: source, empty, fileUpstreams };
}

const SECRET_KEY = /(api[-_]?key|keys|authorization|token|secret|password|cookie)$/i;

/** The password of a URL with credentials (http://user:password@host) replaced by "***". */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^/@\s]+@/i;

/**
 * A deep copy of `config` with every secret-bearing value replaced by "***" (for check-config and
 * logs): values under secret-looking keys (api_key, keys, authorization, ...) and URL passwords.
 */
export function maskSecrets<T>(config: T): T {
  const walk = (value: unknown, key: string): unknown => {
    if (SECRET_KEY.test(key) && value !== "" && value !== undefined) {
      return Array.isArray(value) ? value.map(() => "***") : "***";
    }
    if (typeof value === "string") return value.replace(URL_PASSWORD, "$1***@");
    if (Array.isArray(value)) return value.map((v) => walk(v, ""));
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(config, "") as T;
}
