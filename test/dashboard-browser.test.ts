/**
 * The dashboard in a real browser: Debian's chromium (/usr/bin/chromium, installed by .ci/run when
 * missing) driven by playwright-core, against a proxy with admin keys and a fake upstream. The page
 * asks for the key and keeps it for the session, a chat request made through the proxy shows up in
 * the live table within a second, its detail shows the kept and dropped tools, the filters and the
 * selection playground work, a reload of a broken config shows the validation error, upstreams and
 * an MCP server (the real reference server) show their health, and the page logs no console error.
 * With UPDATE_SCREENSHOTS=1 it saves the screenshots shown in the README (docs/dashboard-*.png).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { chromium, type Browser, type Page } from "playwright-core";
import { stringify } from "yaml";
import { everythingStdio } from "./fakes/mcp-everything.ts";
import { FakeOpenAIUpstream } from "./fakes/openai-upstream.ts";
import { startProxy, type TestProxy } from "./fakes/proxy.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN_KEY = "sk-admin-browser-test";
const CLIENT_KEY = "sk-client-browser-test";
/** Screenshots go to docs/ (shown in the README) with UPDATE_SCREENSHOTS=1, else to a temp dir: a test run leaves the tree clean. */
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(import.meta.dir, "..", "docs") : mkdtempSync(join(tmpdir(), "llm-proxy-screenshots-"));

const TOOLS = [
  ["light_turn_on", "Turn on a light in an area"],
  ["light_turn_off", "Turn off a light in an area"],
  ["climate_set_temperature", "Set the target temperature of a thermostat"],
  ["media_player_play", "Start playing music on a media player"],
  ["media_player_pause", "Pause the media player"],
  ["cover_open", "Open a cover, blind or garage door"],
  ["cover_close", "Close a cover, blind or garage door"],
  ["lock_lock", "Lock a door lock"],
  ["timer_start", "Start a timer for a duration"],
  ["weather_get_forecast", "Get the weather forecast"],
  ["shopping_list_add", "Add an item to the shopping list"],
  ["vacuum_start", "Start the robot vacuum cleaner"],
].map(([name, description]) => ({ type: "function" as const, function: { name: name!, description, parameters: { type: "object", properties: { area: { type: "string" } } } } }));

let upstream: FakeOpenAIUpstream;
let proxy: TestProxy;
let browser: Browser;
let page: Page;
let client: OpenAI;
let mcpDir: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  upstream = new FakeOpenAIUpstream({ models: ["assist-large", "assist-small"] });
  mcpDir = mkdtempSync(join(tmpdir(), "llm-proxy-dashboard-browser-"));
  writeFileSync(join(mcpDir, "servers.yaml"), stringify({ servers: { everything: everythingStdio() } }));
  proxy = startProxy({
    mcp_config: join(mcpDir, "servers.yaml"),
    auth: { keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY] },
    log: { bodies: true },
    upstreams: [{ name: "home-gpu", base_url: upstream.url, max_retries: 0 }],
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  // Some history for the overview.
  const asks = ["turn off the bedroom light", "what's the weather tomorrow", "play some jazz", "set the heating to 21 degrees", "open the garage door"];
  for (const [i, content] of asks.entries()) {
    await client.chat.completions.create({ model: i % 2 ? "assist-small" : "assist-large", messages: [{ role: "user", content }], tools: TOOLS, stream: i % 2 === 0 });
  }
  await client.chat.completions.create({ model: "unknown-model", messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
  proxy.rows();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(e.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.runtime.mcp.close();
  proxy?.stop();
  if (mcpDir) rmSync(mcpDir, { recursive: true, force: true });
  if (!SHOTS.endsWith("docs")) rmSync(SHOTS, { recursive: true, force: true });
  upstream?.stop();
});

test("the page asks for the admin key once, keeps it for the session, and shows the overview", async () => {
  await page.goto(`${proxy.url}/ui`);
  await page.locator("#login").waitFor({ state: "visible" });
  // A client key is refused with the proxy's own reason.
  await page.fill("#login-key", CLIENT_KEY);
  await page.click("#login button");
  await page.locator("#login-message", { hasText: "client key" }).waitFor();
  await page.fill("#login-key", ADMIN_KEY);
  await page.click("#login button");
  await page.locator(".card").first().waitFor();
  await page.locator(".uplot").nth(3).waitFor();
  expect(await page.locator(".card-value").first().textContent()).toBe("6");
  expect(await page.locator("table.grid tbody tr").count()).toBe(3);
  await page.reload();
  await page.locator(".card").first().waitFor();
  expect(await page.locator("#login").isHidden()).toBe(true);
  await page.screenshot({ path: join(SHOTS, "dashboard-overview.png") });
});

test("a chat request made through the proxy appears in the live table within a second; its detail shows the kept tools", async () => {
  await page.click('#tabs button[data-tab="requests"]');
  await page.locator("tr.request").first().waitFor();
  const { response } = await client.chat.completions
    .create({ model: "assist-large", messages: [{ role: "user", content: "please turn on the kitchen light" }], tools: TOOLS })
    .withResponse();
  const id = response.headers.get("x-request-id")!;
  const row = page.locator(`tr.request[data-request-id="${id}"]`);
  await row.waitFor({ timeout: 1_000 });
  await row.click();
  const kept = page.locator("#detail table.decisions tr.kept td:first-child");
  await kept.first().waitFor();
  const keptNames = await kept.allTextContents();
  expect(keptNames).toContain("light_turn_on");
  const logged = proxy.rows().find((r) => r.request_id === id)!;
  expect(keptNames.sort()).toEqual(JSON.parse(logged.tools_kept as unknown as string).sort());
  expect(await page.locator("#detail table.decisions tr.dropped").count()).toBe(TOOLS.length - keptNames.length);
  expect(await page.locator("#detail").textContent()).toContain("please turn on the kitchen light");
  await page.screenshot({ path: join(SHOTS, "dashboard-request.png") });
});

/** Waits until the live table's column `n` (from 1) satisfies `ok`. */
async function untilCells(n: number, ok: (cells: string[]) => boolean): Promise<void> {
  for (;;) {
    if (ok(await page.locator(`tr.request td:nth-child(${n})`).allTextContents())) return;
    await Bun.sleep(50);
  }
}

test("the filters narrow the table", async () => {
  await page.selectOption('select[data-filter="status"]', "4xx");
  await untilCells(5, (cells) => cells.length > 0 && cells.every((c) => c === "404"));
  await page.selectOption('select[data-filter="status"]', "");
  await page.selectOption('select[data-filter="model"]', "assist-small");
  await untilCells(3, (cells) => cells.length === 2 && cells.every((c) => c === "assist-small"));
});

test("the playground ranks a logged request's tools again for an edited last message", async () => {
  await page.click('#tabs button[data-tab="playground"]');
  const options = page.locator('select[aria-label="logged request"] option');
  await options.nth(1).waitFor({ state: "attached" });
  await page.selectOption('select[aria-label="logged request"]', { index: 1 });
  await page.locator(".ranking table").waitFor();
  await page.fill("textarea.last-message", "start the vacuum cleaner");
  await page.locator(".ranking tbody tr:first-child td:nth-child(2)", { hasText: /^vacuum_start$/ }).waitFor();
});

test("a reload of a broken config shows the validation error; the config tab shows secrets masked", async () => {
  const path = join(proxy.dir, "llm-proxy.yaml");
  const good = readFileSync(path, "utf8");
  await page.click('#tabs button[data-tab="config"]');
  await page.locator("pre.config").waitFor();
  const shown = (await page.locator("pre.config").textContent())!;
  expect(shown).not.toContain(ADMIN_KEY);
  expect(shown).toContain('"***"');
  writeFileSync(path, `${good}\nupstreams_typo: 1\n`);
  try {
    await page.click("#reload");
    const error = page.locator("#reload-result pre.error");
    await error.waitFor();
    expect(await error.textContent()).toContain("upstreams_typo");
  } finally {
    writeFileSync(path, good);
  }
  await page.click("#reload");
  await page.locator("#reload-result p.ok").waitFor();
});

test("upstreams and MCP servers with their health", async () => {
  await proxy.runtime.mcp.ready(["everything"]);
  await page.click('#tabs button[data-tab="servers"]');
  await page.locator("main table.grid").nth(1).waitFor();
  expect(await page.locator("main table.grid").first().locator("tbody tr").first().textContent()).toContain("home-gpu");
  const mcp = page.locator("main table.grid").nth(1).locator("tbody tr").first();
  expect(await mcp.locator("td").first().textContent()).toBe("everything");
  expect(await mcp.locator("td.ok").textContent()).toBe("ready");
  expect(await mcp.textContent()).toContain("mcp_everything_get-sum");
});

test("no console errors", () => {
  // Chromium reports every non-2xx fetch as "Failed to load resource": the tests provoke a 401 and a
  // 403 (the key prompt) and a 400 (the refused reload), which the page shows itself. Nothing else.
  expect(consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 40[013] /.test(e))).toEqual([]);
});
