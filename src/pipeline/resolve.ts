/**
 * Resolve stage: client model name -> upstream + upstream model name.
 *
 * Order: empty name -> `models.default_model`; an alias; `upstream/model` naming a configured
 * upstream; the first upstream (config order) whose model list has the name; when some upstream's
 * list is unknown (unreachable, never listed), that upstream, so the upstream can judge. Ollama-style
 * names match with and without the implied `:latest` tag.
 */
import type { Config } from "../config/schema.ts";
import type { RuntimeState } from "../runtime.ts";
import { ProxyError } from "../server/errors.ts";
import type { CallOptions } from "../upstream/backend.ts";
import type { UpstreamState, Upstreams } from "../upstream/registry.ts";
import type { AugmentedModel } from "./augmented.ts";

export interface Target {
  upstream: UpstreamState;
  /** The model name sent to the upstream. */
  model: string;
  /** Set when the client named an augmented model (then `model` is its upstream model, resolved). */
  augmented?: AugmentedModel;
}

/** The name and its `:latest` twin ("qwen3" <-> "qwen3:latest"). */
export function nameVariants(name: string): string[] {
  if (name.endsWith(":latest")) return [name, name.slice(0, -7)];
  return name.includes(":") ? [name] : [name, `${name}:latest`];
}

/**
 * @throws ProxyError 400 when no model is named and there is no default, 404 (model_not_found) when
 *   no upstream serves it
 */
export async function resolveModel(config: Config, upstreams: Upstreams, requested: string | undefined, call: CallOptions = {}): Promise<Target> {
  const name = requested || config.models.default_model;
  if (!name) throw new ProxyError(400, "you must provide a model parameter", "invalid_request_error", "model_required", "model");
  const variants = nameVariants(name);

  for (const variant of variants) {
    const alias = config.models.aliases[variant];
    if (alias === undefined) continue;
    if (typeof alias === "object") {
      const upstream = alias.upstream ? upstreams.get(alias.upstream) : undefined;
      if (upstream) return { upstream, model: alias.model };
      return findServing(upstreams, [alias.model], name, call);
    }
    return prefixed(upstreams, alias) ?? findServing(upstreams, [alias], name, call);
  }
  return prefixed(upstreams, name) ?? findServing(upstreams, variants, name, call);
}

/**
 * Like resolveModel, with augmented models first: an augmented model's `upstream_model` is resolved
 * the same way (so it may be an alias or `upstream/model`).
 * @throws ProxyError as resolveModel
 */
export async function resolveTarget(state: RuntimeState, requested: string | undefined, call: CallOptions = {}): Promise<Target> {
  const augmented = state.models.get(requested || state.config.models.default_model);
  if (!augmented) return resolveModel(state.config, state.upstreams, requested, call);
  const target = await resolveModel(state.config, state.upstreams, augmented.upstreamModel, call);
  return { ...target, augmented };
}

function prefixed(upstreams: Upstreams, name: string): Target | undefined {
  const slash = name.indexOf("/");
  if (slash <= 0) return undefined;
  const upstream = upstreams.get(name.slice(0, slash));
  return upstream ? { upstream, model: name.slice(slash + 1) } : undefined;
}

async function findServing(upstreams: Upstreams, variants: string[], requested: string, call: CallOptions): Promise<Target> {
  const lists = await upstreams.allModels(call);
  for (const { upstream, ids } of lists) {
    const model = variants.find((v) => ids?.includes(v));
    if (model) return { upstream, model };
  }
  const unknown = lists.find((l) => l.ids === undefined);
  if (unknown) return { upstream: unknown.upstream, model: variants[0]! };
  throw new ProxyError(404, `The model \`${requested}\` does not exist or is not served by this proxy`, "invalid_request_error", "model_not_found", "model");
}
