/**
 * `${VAR}` and `${VAR:-default}` interpolation of environment variables into the string values of a
 * parsed YAML tree (never into its text, so a value cannot change the document's structure).
 * `$${...}` is a literal `${...}`.
 */

export class InterpolationError extends Error {
  constructor(
    readonly path: string,
    readonly variable: string,
  ) {
    super(`environment variable ${variable} is not set (use \${${variable}:-default} to allow that)`);
  }
}

const PATTERN = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Returns a copy of `value` with every string interpolated from `env`.
 * @param path key path of `value`, used in errors (e.g. "upstreams[0].api_key")
 * @throws InterpolationError when a variable without default is unset
 */
export function interpolate(value: unknown, env: Record<string, string | undefined>, path = ""): unknown {
  if (typeof value === "string") {
    return value.replace(PATTERN, (whole, escaped, name: string, fallback?: string) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      throw new InterpolationError(path || "(root)", name);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, `${path}[${i}]`));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolate(item, env, path ? `${path}.${key}` : key);
    return out;
  }
  return value;
}
