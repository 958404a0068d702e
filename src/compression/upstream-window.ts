/**
 * The context window an upstream reports for a model, fetched once per upstream and model, cached,
 * and shared by concurrent requests:
 * - llama.cpp (OpenAI-compatible): `GET <base_url>/models` -> `data[].meta.n_ctx`, else
 *   `GET /props` at the server root -> `default_generation_settings.n_ctx`;
 * - Ollama: `POST /api/show` -> `model_info["<general.architecture>.context_length"]`.
 * Servers that report neither (OpenAI, vLLM, ...) give undefined, remembered for a while too.
 *
 * This is the one function the compress stage asks; the project's shared model facts module can
 * take its place without the stage changing.
 */
import type { UpstreamConfig } from "../config/schema.ts";
import { sendUpstream } from "../upstream/http.ts";
import type { UpstreamState } from "../upstream/registry.ts";

/** How long a reported window is trusted: a llama.cpp server restarted with another -c shows within this. */
const KNOWN_TTL_MS = 10 * 60_000;
/** How long "not reported" (or a failed fetch) is remembered before asking again. */
const UNKNOWN_TTL_MS = 60_000;
/** Metadata requests are small: never wait long for them on a request's path. */
const FETCH_TIMEOUT_MS = 2_000;

const positive = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined);

async function getJson(upstream: UpstreamConfig, path: string, init: { method?: string; body?: string } = {}): Promise<any> {
  const config = { ...upstream, max_retries: 0, timeout_ms: Math.min(upstream.timeout_ms, FETCH_TIMEOUT_MS) };
  const { response } = await sendUpstream(config, { path, method: init.method ?? "GET", body: init.body, headers: init.body ? { "content-type": "application/json" } : undefined });
  if (!response.ok) {
    await response.body?.cancel();
    return undefined;
  }
  return response.json().catch(() => undefined);
}

async function llamaCppWindow(upstream: UpstreamConfig, model: string): Promise<number | undefined> {
  const models = await getJson(upstream, "/models").catch(() => undefined);
  const data: any[] = Array.isArray(models?.data) ? models.data : [];
  const entry = data.find((m) => m?.id === model) ?? (data.length === 1 ? data[0] : undefined);
  const fromModels = positive(entry?.meta?.n_ctx);
  if (fromModels) return fromModels;
  // /props sits at the server root, beside /v1.
  const root = { ...upstream, base_url: upstream.base_url.replace(/\/v1\/?$/, "") };
  const props = await getJson(root, "/props").catch(() => undefined);
  return positive(props?.default_generation_settings?.n_ctx) ?? positive(props?.n_ctx);
}

async function ollamaWindow(upstream: UpstreamConfig, model: string): Promise<number | undefined> {
  const show = await getJson(upstream, "/api/show", { method: "POST", body: JSON.stringify({ model }) }).catch(() => undefined);
  const info = show?.model_info as Record<string, unknown> | undefined;
  if (!info) return undefined;
  const arch = info["general.architecture"];
  return positive(typeof arch === "string" ? info[`${arch}.context_length`] : undefined);
}

export class UpstreamWindows {
  private readonly known = new Map<string, { tokens: number | undefined; at: number }>();
  private readonly pending = new Map<string, Promise<number | undefined>>();

  /** The window `upstream` reports for `model`, in tokens, or undefined. Never throws. */
  async get(upstream: UpstreamState, model: string): Promise<number | undefined> {
    const config = upstream.config;
    const key = `${config.type} ${config.base_url} ${model}`;
    const hit = this.known.get(key);
    if (hit && Date.now() - hit.at < (hit.tokens ? KNOWN_TTL_MS : UNKNOWN_TTL_MS)) return hit.tokens;
    let p = this.pending.get(key);
    if (!p) {
      p = (config.type === "ollama" ? ollamaWindow(config, model) : llamaCppWindow(config, model))
        .catch(() => undefined)
        .then((tokens) => {
          this.known.set(key, { tokens, at: Date.now() });
          this.pending.delete(key);
          return tokens;
        });
      this.pending.set(key, p);
    }
    return p;
  }

  /** For /admin: what each upstream reported. */
  snapshot(): Record<string, number | null> {
    return Object.fromEntries([...this.known].map(([k, v]) => [k, v.tokens ?? null]));
  }
}
