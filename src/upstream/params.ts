/**
 * Per-upstream parameter transforms: drop fields an upstream rejects (e.g. `prompt_cache_key`,
 * `logprobs`) and rename fields it spells differently (e.g. `max_completion_tokens` -> `max_tokens`).
 */

export interface ParamTransforms {
  drop_params: string[];
  rename_params: Record<string, string>;
}

/**
 * Returns `body` with the transforms applied to its top-level fields; `body` itself is not changed,
 * and is returned as is when nothing applies. A rename never overwrites a field the client set.
 */
export function transformParams<T extends Record<string, unknown>>(body: T, transforms: ParamTransforms): T {
  const { drop_params, rename_params } = transforms;
  let out: Record<string, unknown> | undefined;
  for (const key of drop_params) {
    if (key in body) {
      out ??= { ...body };
      delete out[key];
    }
  }
  for (const [from, to] of Object.entries(rename_params)) {
    const source = out ?? body;
    if (!(from in source)) continue;
    out ??= { ...body };
    if (!(to in out)) out[to] = out[from];
    delete out[from];
  }
  return (out ?? body) as T;
}
