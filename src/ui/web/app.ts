/**
 * The dashboard's front-end (bundled by ../bundle.ts into the page served at /ui). Plain DOM and uPlot:
 * five tabs over the admin API (src/server/dashboard.ts, admin.ts) and /health. The admin key, when
 * the proxy asks for one (401/403), is kept in sessionStorage: this browser tab's session only.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import type { StatsBucket } from "../../store/request-log-stats.ts";

type Row = Record<string, unknown>;

const KEY_STORAGE = "llm-proxy-admin-key";
/** How often the live table asks for new rows: with the log's 100 ms flush, a row shows within ~0.6 s. */
const POLL_MS = 500;
/** Typing pause before the playground ranks again. */
const RANK_DEBOUNCE_MS = 250;

const main = document.getElementById("main")!;
const statusLine = document.getElementById("status")!;
const login = document.getElementById("login") as HTMLFormElement;
const loginKey = document.getElementById("login-key") as HTMLInputElement;
const loginMessage = document.getElementById("login-message")!;

// ---------------------------------------------------------------------------------------------
// DOM and formatting helpers

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (`on*` as listeners) and children (strings as text, never HTML). */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "className") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const num = (v: unknown, digits = 0) => (typeof v === "number" ? v.toLocaleString("en", { maximumFractionDigits: digits }) : "–");
const ms = (v: unknown) => (typeof v === "number" ? (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`) : "–");
const time = (t: unknown) => (typeof t === "number" ? new Date(t).toLocaleTimeString("en-GB") : "–");
const dateTime = (t: unknown) => (typeof t === "number" ? new Date(t).toLocaleString("en-GB") : "–");
const statusClass = (s: unknown) => (typeof s !== "number" ? "" : s >= 500 ? "bad" : s >= 400 ? "warn" : "ok");

/** A two-column table of `pairs`. */
function kv(pairs: [string, Child][]): HTMLTableElement {
  return h("table", { className: "kv" }, ...pairs.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

/** Any stored value, readable: objects as indented JSON. */
function show(value: unknown): Child {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return h("pre", {}, JSON.stringify(value, null, 2));
  return String(value);
}

/** A body as stored (JSON text or not), pretty-printed when it parses. */
function body(text: unknown): HTMLElement {
  if (typeof text !== "string") return h("pre", {}, JSON.stringify(text, null, 2));
  try {
    return h("pre", { className: "body" }, JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    return h("pre", { className: "body" }, text);
  }
}

// ---------------------------------------------------------------------------------------------
// API access

class AuthNeeded extends Error {}

/** Calls the proxy with the stored key; 401/403 open the key form. @throws AuthNeeded, or Error with the API's message */
async function api<T = any>(path: string, init: RequestInit = {}): Promise<T> {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers: Record<string, string> = { ...(init.body ? { "content-type": "application/json" } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const res = await fetch(path, { ...init, headers });
  const data = await res.json().catch(() => null);
  if (res.status === 401 || res.status === 403) {
    askKey(data?.error?.message ?? `HTTP ${res.status}`);
    throw new AuthNeeded();
  }
  if (!res.ok) throw new Error(data?.error?.message ?? (typeof data?.error === "string" ? data.error : `HTTP ${res.status}`));
  return data as T;
}

function askKey(message: string): void {
  loginMessage.textContent = message;
  login.hidden = false;
  main.hidden = true;
  loginKey.focus();
}

login.addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, loginKey.value.trim());
  loginKey.value = "";
  login.hidden = true;
  main.hidden = false;
  void open(current);
});

function setStatus(text: string, bad = false): void {
  statusLine.textContent = text;
  statusLine.className = bad ? "bad" : "";
}

/** Runs a tab's loader, showing API errors in the status line. */
async function guarded(work: () => Promise<void>): Promise<void> {
  try {
    await work();
    setStatus("");
  } catch (err) {
    if (err instanceof AuthNeeded) return;
    setStatus((err as Error).message, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Tabs

type Tab = "overview" | "requests" | "servers" | "config" | "playground";
let current: Tab = "overview";
/** Stops the current tab's timers when another opens. */
let leave: () => void = () => {};

async function open(tab: Tab): Promise<void> {
  leave();
  leave = () => {};
  current = tab;
  for (const b of document.querySelectorAll<HTMLButtonElement>("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  main.replaceChildren();
  if (location.hash !== `#${tab}`) history.replaceState(null, "", `#${tab}`);
  await guarded(() => TABS[tab]());
}

for (const b of document.querySelectorAll<HTMLButtonElement>("#tabs button")) b.addEventListener("click", () => void open(b.dataset.tab as Tab));

// ---------------------------------------------------------------------------------------------
// Overview


const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2"];

/** One uPlot chart of `series` over the buckets' times; `dots` marks each value (percentiles: empty buckets are gaps, a lone value has no line). */
function chart(title: string, times: number[], series: { label: string; values: (number | null)[] }[], unit: string, dots = false): HTMLElement {
  const box = h("div", { className: "chart" });
  // Two charts a row (one on narrow screens, see style.css): main's padding 32, the gap 10, a box's padding and border 14.
  const content = main.clientWidth - 32;
  const width = Math.max(280, Math.floor(content > 900 ? (content - 10) / 2 - 14 : content - 14));
  const opts: uPlot.Options = {
    title,
    width,
    height: 200,
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false, points: { show: dots, size: 5 }, value: (_u: uPlot, v: number | null) => (v === null ? "–" : `${num(v, 1)} ${unit}`) }))],
    axes: [{}, { size: 60, values: (_u: uPlot, ticks: number[]) => ticks.map((v) => num(v, 1)) }],
    legend: { live: true },
  };
  new uPlot(opts, [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData, box);
  return box;
}

async function overview(): Promise<void> {
  const windowSelect = h("select", { "aria-label": "window" }, ...["hour", "day", "week"].map((w) => h("option", { value: w }, `last ${w}`)));
  windowSelect.value = sessionStorage.getItem("llm-proxy-window") ?? "hour";
  const body = h("div");
  main.append(h("div", { className: "toolbar" }, h("h2", {}, "Overview"), windowSelect), body);
  const load = async () => {
    sessionStorage.setItem("llm-proxy-window", windowSelect.value);
    const stats = await api<{ buckets: StatsBucket[]; models: (Omit<StatsBucket, "t"> & { model: string })[]; bucket_ms: number }>(`/admin/stats?window=${windowSelect.value}`);
    const b = stats.buckets;
    const times = b.map((x) => x.t);
    const perMinute = stats.bucket_ms / 60_000;
    const total = (f: (x: StatsBucket) => number) => b.reduce((n, x) => n + f(x), 0);
    const requests = total((x) => x.requests);
    const errors = total((x) => x.errors);
    const cards = h(
      "div",
      { className: "cards" },
      card("Requests", num(requests)),
      card("Error rate", requests ? `${((100 * errors) / requests).toFixed(1)} %` : "–"),
      card("Prompt tokens", num(total((x) => x.prompt_tokens))),
      card("Completion tokens", num(total((x) => x.completion_tokens))),
      card("Tool tokens removed by selection", num(total((x) => x.tool_tokens_saved))),
      card("Tokens removed by compression", num(total((x) => x.compression_tokens_saved))),
    );
    const charts = h(
      "div",
      { className: "charts" },
      chart("Requests / min", times, [
        { label: "requests", values: b.map((x) => x.requests / perMinute) },
        { label: "errors", values: b.map((x) => x.errors / perMinute) },
      ], "/min"),
      chart("Latency and time to first byte", times, [
        { label: "latency p50", values: b.map((x) => x.latency_p50) },
        { label: "latency p95", values: b.map((x) => x.latency_p95) },
        { label: "TTFB p50", values: b.map((x) => x.ttfb_p50) },
        { label: "TTFB p95", values: b.map((x) => x.ttfb_p95) },
      ], "ms", true),
      chart("Tokens", times, [
        { label: "prompt", values: b.map((x) => x.prompt_tokens) },
        { label: "completion", values: b.map((x) => x.completion_tokens) },
      ], "tokens"),
      chart("Tokens saved", times, [
        { label: "tool selection", values: b.map((x) => x.tool_tokens_saved) },
        { label: "compression", values: b.map((x) => x.compression_tokens_saved) },
      ], "tokens"),
    );
    const models = h(
      "table",
      { className: "grid" },
      h("thead", {}, h("tr", {}, ...["model", "requests", "errors", "latency p50", "p95", "TTFB p50", "p95", "prompt", "completion", "tool tokens saved", "compression saved"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        ...stats.models.map((m) =>
          h("tr", {}, h("td", {}, m.model), h("td", {}, num(m.requests)), h("td", {}, num(m.errors)), h("td", {}, ms(m.latency_p50)), h("td", {}, ms(m.latency_p95)), h("td", {}, ms(m.ttfb_p50)), h("td", {}, ms(m.ttfb_p95)), h("td", {}, num(m.prompt_tokens)), h("td", {}, num(m.completion_tokens)), h("td", {}, num(m.tool_tokens_saved)), h("td", {}, num(m.compression_tokens_saved))),
        ),
      ),
    );
    body.replaceChildren(cards, charts, h("h3", {}, "Per model"), stats.models.length ? models : h("p", { className: "muted" }, "No requests in this window."));
  };
  windowSelect.addEventListener("change", () => void guarded(load));
  await load();
}

function card(label: string, value: string): HTMLElement {
  return h("div", { className: "card" }, h("div", { className: "card-value" }, value), h("div", { className: "card-label" }, label));
}

// ---------------------------------------------------------------------------------------------
// Requests: live table and detail

const FILTERS = ["model", "upstream", "endpoint", "status"] as const;

async function requests(): Promise<void> {
  const facets = await api<{ models: string[]; upstreams: string[]; endpoints: string[] }>("/admin/facets");
  const select = (name: string, values: string[], labels: string[] = values) =>
    h("select", { "aria-label": name, "data-filter": name }, h("option", { value: "" }, `any ${name}`), ...values.map((v, i) => h("option", { value: v }, labels[i])));
  const selects = {
    model: select("model", facets.models),
    upstream: select("upstream", facets.upstreams),
    endpoint: select("endpoint", facets.endpoints),
    status: select("status", ["2xx", "4xx", "5xx", "error"], ["2xx", "4xx", "5xx", "any error"]),
  };
  const tbody = h("tbody");
  const table = h(
    "table",
    { className: "grid requests" },
    h("thead", {}, h("tr", {}, ...["time", "endpoint", "model", "upstream", "status", "latency", "TTFB", "prompt", "completion", "tools", "selection", "rounds"].map((c) => h("th", {}, c)))),
    tbody,
  );
  const detail = h("section", { id: "detail" });
  main.append(h("div", { className: "toolbar" }, h("h2", {}, "Requests"), ...Object.values(selects)), h("div", { className: "split" }, h("div", { className: "table-wrap" }, table), detail));

  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const query = () => FILTERS.map((f) => (selects[f].value ? `&${f}=${encodeURIComponent(selects[f].value)}` : "")).join("");
  const poll = async () => {
    const { data } = await api<{ data: Row[] }>(`/admin/requests?limit=200&after=${last}${query()}`);
    if (data.length) last = Math.max(last, ...data.map((r) => r.id as number));
    // Newest first: the batch goes on top, in its own order.
    tbody.prepend(...data.map(requestRow));
    while (tbody.children.length > 500) tbody.lastElementChild!.remove();
  };
  const loop = async () => {
    // A hidden tab does not poll; it catches up (rows after `last`) when shown again.
    if (!document.hidden) await guarded(poll);
    if (!stopped) timer = setTimeout(loop, POLL_MS);
  };
  for (const s of Object.values(selects)) {
    s.addEventListener("change", () => {
      last = 0;
      tbody.replaceChildren();
    });
  }
  leave = () => {
    stopped = true;
    clearTimeout(timer);
  };
  await loop();

  function requestRow(r: Row): HTMLElement {
    const tools = r.tools_received == null ? "–" : `${r.tools_kept ?? "–"}/${r.tools_received}`;
    const tr = h(
      "tr",
      { className: "request", "data-id": r.id as number, "data-request-id": r.request_id as string, tabindex: 0 },
      h("td", {}, time(r.ts)),
      h("td", {}, r.endpoint as string),
      h("td", {}, (r.client_model as string) ?? "–"),
      h("td", {}, (r.upstream as string) ?? "–"),
      h("td", { className: statusClass(r.status) }, num(r.status)),
      h("td", {}, ms(r.latency_ms)),
      h("td", {}, ms(r.ttfb_ms)),
      h("td", {}, num(r.prompt_tokens)),
      h("td", {}, num(r.completion_tokens)),
      h("td", {}, tools),
      h("td", {}, (r.selection_mode as string) ?? "–"),
      h("td", {}, num(r.tool_rounds)),
    );
    const select = () => {
      for (const other of tbody.querySelectorAll("tr.selected")) other.classList.remove("selected");
      tr.classList.add("selected");
      void guarded(() => showDetail(r.id as number, detail));
    };
    tr.addEventListener("click", select);
    tr.addEventListener("keydown", (e) => e.key === "Enter" && select());
    return tr;
  }
}

/** Columns the detail view shows in its own sections; every other column goes to "Other columns". */
const SHOWN = new Set([
  "id", "ts", "request_id", "endpoint", "method", "client_model", "upstream", "upstream_model", "status", "latency_ms", "ttfb_ms", "stream",
  "prompt_tokens", "completion_tokens", "finish_reason", "retries", "retry_reasons", "error", "tools_received", "tools_kept", "tool_tokens_before",
  "tool_tokens_after", "selection_mode", "selection_ms", "tool_decisions", "request_body", "response_body", "tool_rounds", "proxy_tool_calls",
  "tool_time_ms", "tool_loop_end", "compression_mode", "prompt_tokens_estimated", "prompt_tokens_estimated_after", "token_budget",
  "compression_steps", "messages_dropped", "messages_truncated", "compression_ms",
]);

interface Decision {
  name: string;
  rank: number;
  lexical: number;
  semantic: number | null;
  fused: number;
  kept: boolean;
  reason: string;
}

async function showDetail(id: number, into: HTMLElement): Promise<void> {
  const r = await api<Row>(`/admin/requests/${id}`);
  const sections: HTMLElement[] = [
    h("h3", {}, `Request ${r.request_id}`),
    kv([
      ["time", dateTime(r.ts)],
      ["endpoint", `${r.method} ${r.endpoint}`],
      ["model", `${r.client_model ?? "–"} → ${r.upstream ?? "–"} / ${r.upstream_model ?? "–"}`],
      ["status", h("span", { className: statusClass(r.status) }, num(r.status))],
      ["latency", ms(r.latency_ms)],
      ["time to first byte", ms(r.ttfb_ms)],
      ["stream", r.stream ? "yes" : "no"],
      ["tokens", `${num(r.prompt_tokens)} prompt, ${num(r.completion_tokens)} completion`],
      ["finish reason", (r.finish_reason as string) ?? "–"],
      ["retries", num(r.retries)],
      ...(r.retry_reasons ? [["retry reasons", show(r.retry_reasons)] as [string, Child]] : []),
      ...(r.error ? [["error", h("span", { className: "bad" }, String(r.error))] as [string, Child]] : []),
    ]),
  ];

  if (r.tools_received != null) {
    sections.push(
      h("h4", {}, "Tool selection"),
      kv([
        ["mode", (r.selection_mode as string) ?? "–"],
        ["tools", `${Array.isArray(r.tools_kept) ? r.tools_kept.length : "–"} kept of ${num(r.tools_received)}`],
        ["tool tokens", `${num(r.tool_tokens_before)} → ${num(r.tool_tokens_after)}`],
        ["selection time", ms(r.selection_ms)],
      ]),
    );
    const decisions = r.tool_decisions as Decision[] | null;
    if (Array.isArray(decisions)) {
      const forwarded = Array.isArray(r.tools_kept) ? new Set(r.tools_kept as string[]) : undefined;
      const sorted = [...decisions].sort((a, b) => Number(b.kept) - Number(a.kept) || a.rank - b.rank);
      sections.push(
        h(
          "table",
          { className: "grid decisions" },
          h("thead", {}, h("tr", {}, ...["tool", "rank", "lexical", "semantic", "fused", "kept", "reason"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            ...sorted.map((d) => {
              // A later stage may forward a tool the selector dropped (e.g. a cache-stable working set), or cut one it kept.
              const sent = forwarded ? forwarded.has(d.name) : d.kept;
              const verdict = d.kept === sent ? (d.kept ? "kept" : "dropped") : sent ? "dropped, but forwarded" : "kept, but not forwarded";
              return h("tr", { className: sent ? "kept" : "dropped" }, h("td", {}, d.name), h("td", {}, d.rank), h("td", {}, num(d.lexical, 3)), h("td", {}, num(d.semantic, 3)), h("td", {}, num(d.fused, 3)), h("td", {}, verdict), h("td", {}, d.reason));
            }),
          ),
        ),
      );
    } else if (Array.isArray(r.tools_kept)) {
      sections.push(h("p", {}, `Kept: ${(r.tools_kept as string[]).join(", ")}`));
    }
  }

  if (r.compression_mode != null || r.compression_steps != null) {
    const steps = r.compression_steps && typeof r.compression_steps === "object" ? Object.entries(r.compression_steps as Record<string, unknown>) : [];
    sections.push(
      h("h4", {}, "Compression"),
      kv([
        ["mode", show(r.compression_mode)],
        ["prompt tokens (estimated)", `${num(r.prompt_tokens_estimated)} → ${num(r.prompt_tokens_estimated_after)}`],
        ["budget", num(r.token_budget)],
        ["messages dropped / truncated", `${num(r.messages_dropped)} / ${num(r.messages_truncated)}`],
        ["time", ms(r.compression_ms)],
        ...steps.map(([step, saved]) => [`step: ${step}`, `${num(saved)} tokens`] as [string, Child]),
      ]),
    );
  }

  if (r.tool_rounds != null) {
    const calls = (Array.isArray(r.proxy_tool_calls) ? r.proxy_tool_calls : []) as { name: string; round?: number; ms: number; ok: boolean; error?: string; arguments?: string }[];
    sections.push(
      h("h4", {}, "Tool loop"),
      kv([
        ["rounds", num(r.tool_rounds)],
        ["ended by", (r.tool_loop_end as string) ?? "–"],
        ["time in tools", ms(r.tool_time_ms)],
      ]),
      h(
        "table",
        { className: "grid calls" },
        h("thead", {}, h("tr", {}, ...["round", "tool", "arguments", "ms", "outcome"].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          ...calls.map((c) =>
            h("tr", {}, h("td", {}, num(c.round)), h("td", {}, c.name), h("td", {}, c.arguments ? h("code", {}, c.arguments) : "–"), h("td", {}, num(c.ms, 1)), h("td", { className: c.ok ? "ok" : "bad" }, c.ok ? "ok" : `error: ${c.error ?? ""}`)),
          ),
        ),
      ),
    );
  }

  const other = Object.entries(r).filter(([k, v]) => !SHOWN.has(k) && v !== null);
  if (other.length) sections.push(h("h4", {}, "Other columns"), kv(other.map(([k, v]) => [k, show(v)])));

  if (r.request_body != null) {
    sections.push(
      h("h4", {}, "Request body ", h("button", { onclick: () => openPlayground(typeof r.request_body === "string" ? r.request_body : JSON.stringify(r.request_body)) }, "open in playground")),
      body(r.request_body),
    );
  }
  if (r.response_body != null) sections.push(h("h4", {}, "Response body"), body(r.response_body));
  into.replaceChildren(...sections);
}

// ---------------------------------------------------------------------------------------------
// Upstreams and MCP servers

async function servers(): Promise<void> {
  const health = await api<{ status: string; version: string; uptime_s: number; upstreams: Row[]; mcp_servers?: Record<string, Row>; request_log: Row | null }>("/health");
  const reach = (v: unknown) => (v === true ? h("span", { className: "ok" }, "up") : v === false ? h("span", { className: "bad" }, "down") : h("span", { className: "muted" }, "not yet seen"));
  const upstreams = h(
    "table",
    { className: "grid" },
    h("thead", {}, h("tr", {}, ...["upstream", "type", "base URL", "health", "last ok", "last error"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...health.upstreams.map((u) => h("tr", {}, h("td", {}, String(u.name)), h("td", {}, String(u.type)), h("td", {}, String(u.base_url)), h("td", {}, reach(u.reachable)), h("td", {}, show(u.last_ok_at)), h("td", {}, show(u.last_error))))),
  );
  // /admin/mcp has more than /health (tool names, calls, p50/p95, restarts); every field is shown.
  const servers = await api<{ servers: Row[] }>("/admin/mcp").then((r) => r.servers).catch(() => undefined);
  const mcp: [string, Row][] = servers ? servers.map((s) => [String(s.name), Object.fromEntries(Object.entries(s).filter(([k]) => k !== "name"))]) : Object.entries(health.mcp_servers ?? {});
  const keys = [...new Set(mcp.flatMap(([, s]) => Object.keys(s)))];
  const mcpTable = mcp.length
    ? h(
        "table",
        { className: "grid wrap" },
        h("thead", {}, h("tr", {}, h("th", {}, "MCP server"), ...keys.map((k) => h("th", {}, k)))),
        h("tbody", {}, ...mcp.map(([name, s]) => h("tr", {}, h("td", {}, name), ...keys.map((k) => h("td", { className: k === "state" ? (s[k] === "ready" ? "ok" : s[k] === "down" ? "bad" : "") : "" }, Array.isArray(s[k]) ? (s[k] as unknown[]).join(", ") : show(s[k])))))),
      )
    : h("p", { className: "muted" }, "No MCP servers configured.");
  main.append(
    h("h2", {}, "Upstreams & MCP servers"),
    kv([
      ["status", h("span", { className: health.status === "ok" ? "ok" : "bad" }, health.status)],
      ["version", health.version],
      ["uptime", `${num(health.uptime_s)} s`],
      ["request log", health.request_log ? `${health.request_log.path} (${num(health.request_log.failures)} failed rows)` : "off"],
    ]),
    h("h3", {}, "Upstreams"),
    upstreams,
    h("h3", {}, "MCP servers"),
    mcpTable,
  );
}

// ---------------------------------------------------------------------------------------------
// Config and reload

async function config(): Promise<void> {
  const { path, config } = await api<{ path: string | null; config: unknown }>("/admin/config");
  const result = h("div", { id: "reload-result" });
  const button = h("button", { id: "reload" }, "Reload");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const res = await api<{ status: string; changes: unknown }>("/admin/reload", { method: "POST" });
      result.replaceChildren(h("p", { className: "ok" }, `Reloaded. Changes: ${JSON.stringify(res.changes)}`));
      pre.textContent = JSON.stringify((await api<{ config: unknown }>("/admin/config")).config, null, 2);
    } catch (err) {
      if (!(err instanceof AuthNeeded)) result.replaceChildren(h("pre", { className: "error" }, (err as Error).message));
    } finally {
      button.disabled = false;
    }
  });
  const pre = h("pre", { className: "config" }, JSON.stringify(config, null, 2));
  main.append(h("div", { className: "toolbar" }, h("h2", {}, "Effective config"), h("span", { className: "muted" }, path ?? "(no file)"), button), result, h("p", { className: "muted" }, "Secrets are masked."), pre);
}

// ---------------------------------------------------------------------------------------------
// Selection playground

let playgroundSeed: string | undefined;

function openPlayground(requestBody: string): void {
  playgroundSeed = requestBody;
  void open("playground");
}

interface Ranked {
  mode: string;
  kept: number;
  total: number;
  selection_ms: number;
  tool_tokens_before: number;
  tool_tokens_after: number;
  tools: Decision[];
}

async function playground(): Promise<void> {
  const { data } = await api<{ data: Row[] }>("/admin/requests?limit=100&endpoint=%2Fv1%2Fchat%2Fcompletions");
  const { data: ollama } = await api<{ data: Row[] }>("/admin/requests?limit=100&endpoint=%2Fapi%2Fchat");
  const withTools = [...data, ...ollama].filter((r) => (r.tools_received as number) > 0).sort((a, b) => (b.id as number) - (a.id as number));
  const pick = h("select", { "aria-label": "logged request" }, h("option", { value: "" }, "pick a logged request with tools…"), ...withTools.map((r) => h("option", { value: String(r.id) }, `${time(r.ts)} ${r.client_model ?? ""} (${r.tools_received} tools)`)));
  const request = h("textarea", { className: "request-json", spellcheck: "false", rows: 12, placeholder: 'Paste a chat request: {"model": "...", "messages": [...], "tools": [...]}' });
  const message = h("textarea", { className: "last-message", rows: 2, placeholder: "the last user message" });
  const out = h("div", { className: "ranking" });
  const note = h("p", { className: "muted" });
  main.append(
    h("h2", {}, "Selection playground"),
    h("p", { className: "muted" }, "Ranks the request's tools as the proxy would (POST /admin/tools/rank); nothing is sent upstream. Logged requests carry their tools only with log.bodies on."),
    h("div", { className: "toolbar" }, pick, note),
    request,
    h("label", {}, "Last user message", message),
    out,
  );

  let timer: ReturnType<typeof setTimeout> | undefined;
  const parsed = (): { messages: { role: string; content?: unknown }[]; tools: unknown[]; model?: string } | undefined => {
    try {
      const value = JSON.parse(request.value);
      return value && Array.isArray(value.messages) && Array.isArray(value.tools) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const lastUser = (messages: { role: string }[]) => messages.findLastIndex((m) => m.role === "user");
  const fillMessage = () => {
    const req = parsed();
    const i = req ? lastUser(req.messages) : -1;
    const content = i >= 0 ? req!.messages[i]!.content : "";
    message.value = typeof content === "string" ? content : JSON.stringify(content ?? "");
  };
  const rank = async () => {
    const req = parsed();
    if (!req) {
      out.replaceChildren(h("p", { className: "muted" }, "The request needs messages and tools (JSON)."));
      return;
    }
    const messages = [...req.messages];
    const i = lastUser(messages);
    if (i >= 0) messages[i] = { ...messages[i]!, content: message.value };
    else messages.push({ role: "user", content: message.value });
    try {
      const res = await api<Ranked>("/admin/tools/rank", { method: "POST", body: JSON.stringify({ ...req, messages }) });
      out.replaceChildren(
        h("p", {}, `${res.kept} of ${res.total} tools kept (${res.mode}, ${ms(res.selection_ms)}); tool tokens ${num(res.tool_tokens_before)} → ${num(res.tool_tokens_after)}`),
        h(
          "table",
          { className: "grid decisions" },
          h("thead", {}, h("tr", {}, ...["rank", "tool", "lexical", "semantic", "fused", "kept", "reason"].map((c) => h("th", {}, c)))),
          h("tbody", {}, ...[...res.tools].sort((a, b) => a.rank - b.rank).map((d) => h("tr", { className: d.kept ? "kept" : "dropped" }, h("td", {}, d.rank), h("td", {}, d.name), h("td", {}, num(d.lexical, 3)), h("td", {}, num(d.semantic, 3)), h("td", {}, num(d.fused, 3)), h("td", {}, d.kept ? "kept" : "dropped"), h("td", {}, d.reason)))),
        ),
      );
    } catch (err) {
      if (!(err instanceof AuthNeeded)) out.replaceChildren(h("pre", { className: "error" }, (err as Error).message));
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void rank(), RANK_DEBOUNCE_MS);
  };
  const load = (text: string) => {
    try {
      request.value = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      request.value = text;
    }
    fillMessage();
    void rank();
  };
  pick.addEventListener("change", async () => {
    if (!pick.value) return;
    const row = await api<Row>(`/admin/requests/${pick.value}`).catch(() => undefined);
    if (!row) return;
    if (row.request_body == null) {
      note.textContent = "This row has no body (log.bodies is off): paste the request instead.";
      return;
    }
    note.textContent = "";
    load(typeof row.request_body === "string" ? row.request_body : JSON.stringify(row.request_body));
  });
  request.addEventListener("input", () => {
    fillMessage();
    later();
  });
  message.addEventListener("input", later);
  leave = () => clearTimeout(timer);
  if (playgroundSeed) {
    load(playgroundSeed);
    playgroundSeed = undefined;
  }
}

const TABS: Record<Tab, () => Promise<void>> = { overview, requests, servers, config, playground };

const initial = location.hash.slice(1) as Tab;
void open(initial in TABS ? initial : "overview");
