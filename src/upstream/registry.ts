/**
 * The configured upstreams: their backends, the models each serves (cached with a TTL), and their
 * health as seen by recent requests and probes.
 */
import type { Config, UpstreamConfig } from "../config/schema.ts";
import { ProxyError } from "../server/errors.ts";
import type { Backend, CallOptions, UpstreamModel } from "./backend.ts";
import { getModelFacts } from "./model-facts.ts";
import { OllamaBackend } from "./ollama.ts";
import { OpenAIBackend } from "./openai.ts";
import type { FactsLookup } from "./tool-choice.ts";

/** Builds the backend for an upstream's `type`, given the upstream's facts lookup. Other types register here. */
export const BACKENDS: Record<UpstreamConfig["type"], ((u: UpstreamConfig, facts: FactsLookup) => Backend) | undefined> = {
  openai: (u, facts) => new OpenAIBackend(u, facts),
  ollama: (u) => new OllamaBackend(u),
};

/**
 * Whether a failed call still reached the server: sendUpstream throws a ProxyError only when it
 * got no answer (connect error, timeout); an HTTP error status or a malformed body means it answered.
 * So an upstream that wants the client's own key (401 to the proxy's probe) is not reported down.
 */
function answered(err: unknown): boolean {
  return !(err instanceof ProxyError);
}

export interface UpstreamHealth {
  reachable: boolean | null;
  last_error: string | null;
  last_error_at: string | null;
  last_ok_at: string | null;
}

export class UpstreamState {
  readonly backend: Backend;
  readonly health: UpstreamHealth = { reachable: null, last_error: null, last_error_at: null, last_ok_at: null };
  private models: { list: UpstreamModel[]; at: number } | undefined;
  private pending: Promise<UpstreamModel[] | undefined> | undefined;
  private checkedAt = 0;

  constructor(
    readonly config: UpstreamConfig,
    /** How long a fetched model list (and the model facts, model-facts.ts) stays fresh, ms. */
    readonly ttlMs: number,
  ) {
    const make = BACKENDS[config.type];
    if (!make) throw new Error(`upstream ${config.name}: type ${config.type} is not supported`);
    this.backend = make(config, (model, call) => getModelFacts(this, model, call));
  }

  get name() {
    return this.config.name;
  }

  markOk(): void {
    this.health.reachable = true;
    this.health.last_ok_at = new Date().toISOString();
    this.checkedAt = Date.now();
  }

  /** Records a failure; `reachable` says whether the server answered at all (an HTTP error did). */
  markError(message: string, reachable = false): void {
    this.health.reachable = reachable;
    this.health.last_error = message;
    this.health.last_error_at = new Date().toISOString();
    this.checkedAt = Date.now();
  }

  /** ms since the last request or probe told us anything. */
  get staleMs(): number {
    return Date.now() - this.checkedAt;
  }

  /** Checks reachability by listing models (also when the list is configured); never throws. */
  async probe(): Promise<void> {
    if (!Array.isArray(this.config.models)) {
      if (this.models) this.models.at = 0;
      await this.modelEntries();
      return;
    }
    await this.backend.listModels({}).then(
      () => this.markOk(),
      (err: Error) => this.markError(`probe: ${err.message}`, answered(err)),
    );
  }

  /**
   * The model ids this upstream serves: the configured list, or its /models (cached for the TTL;
   * a failed refresh keeps the stale list).
   * @returns undefined when the list is unknown (never fetched successfully)
   */
  async modelIds(call: CallOptions = {}): Promise<string[] | undefined> {
    if (Array.isArray(this.config.models)) return this.config.models;
    return (await this.modelEntries(call))?.map((m) => m.id);
  }

  /**
   * The models this upstream serves with the entries it lists them with (see modelIds; configured
   * models have empty entries).
   * @returns undefined when the list is unknown (never fetched successfully)
   */
  async modelEntries(call: CallOptions = {}): Promise<UpstreamModel[] | undefined> {
    if (Array.isArray(this.config.models)) return this.config.models.map((id) => ({ id, entry: {} }));
    if (this.models && Date.now() - this.models.at < this.ttlMs) return this.models.list;
    // The fetch is shared by every request waiting for the list: it carries the caller's
    // credentials but not its disconnect signal, or one client leaving would fail them all.
    this.pending ??= this.backend
      .listModels({ clientAuthorization: call.clientAuthorization })
      .then((list) => {
        this.models = { list, at: Date.now() };
        this.markOk();
        return list;
      })
      .catch((err: Error) => {
        this.markError(`listing models: ${err.message}`, answered(err));
        return this.models?.list;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}

/** All upstreams of one config, in config order. */
export class Upstreams {
  readonly list: UpstreamState[];

  constructor(config: Config) {
    this.list = config.upstreams.map((u) => new UpstreamState(u, config.models.list_cache_ttl_ms));
  }

  get(name: string): UpstreamState | undefined {
    return this.list.find((u) => u.name === name);
  }

  /** The first upstream: target of pass-through routes and of unlisted models. */
  get primary(): UpstreamState {
    return this.list[0]!;
  }

  /** Every upstream's model ids, fetched in parallel; unknown lists come back undefined. */
  async allModels(call: CallOptions = {}): Promise<{ upstream: UpstreamState; ids: string[] | undefined }[]> {
    return Promise.all(this.list.map(async (upstream) => ({ upstream, ids: await upstream.modelIds(call) })));
  }

  /** Every upstream's models with their entries, fetched in parallel; unknown lists come back undefined. */
  async allModelEntries(call: CallOptions = {}): Promise<{ upstream: UpstreamState; models: UpstreamModel[] | undefined }[]> {
    return Promise.all(this.list.map(async (upstream) => ({ upstream, models: await upstream.modelEntries(call) })));
  }
}
