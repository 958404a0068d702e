/**
 * Generates realistic Home Assistant conversations for the compression benchmark and tests: the
 * system prompt HA's LLM API writes (instructions plus the exposed entities in its YAML-like
 * "Static Context"), 34-76 tools (HA's Assist tools from
 * ../shared/datasets/tool-selection/tools/ha-assist.json, then MCP tools from extra-mcp.json), and
 * 1-30 rounds of history: a user request, the assistant's tool call(s) (sometimes parallel), HA's
 * tool results (action_done replies, or GetLiveContext's listing of every entity's state), and the
 * assistant's spoken reply. Deterministic for a seed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../src/compression/random-drop.ts";
import type { ChatCompletionRequest, ChatMessage, Tool } from "../src/protocol/openai.ts";

const TOOLS_DIR = join(import.meta.dir, "..", "..", "shared", "datasets", "tool-selection", "tools");
const HA_TOOLS = JSON.parse(readFileSync(join(TOOLS_DIR, "ha-assist.json"), "utf8")) as Tool[];
const MCP_TOOLS = JSON.parse(readFileSync(join(TOOLS_DIR, "extra-mcp.json"), "utf8")) as Tool[];

const AREAS = ["Kitchen", "Living Room", "Bedroom", "Office", "Hallway", "Garage", "Bathroom", "Kids Room", "Garden", "Basement", "Dining Room", "Guest Room"];
/** [domain, name, states, attributes] of the device kinds a home exposes. */
const KINDS: [string, string, string[], Record<string, string[]>][] = [
  ["light", "Ceiling Light", ["on", "off"], { brightness: ["80", "180", "255"] }],
  ["light", "Lamp", ["on", "off"], {}],
  ["light", "LED Strip", ["on", "off"], { color_mode: ["hs", "color_temp"] }],
  ["switch", "Fan", ["on", "off"], {}],
  ["switch", "Coffee Maker", ["on", "off"], {}],
  ["sensor", "Temperature", ["19.8 °C", "21.4 °C", "23.0 °C"], { device_class: ["temperature"] }],
  ["sensor", "Humidity", ["41 %", "55 %", "63 %"], { device_class: ["humidity"] }],
  ["binary_sensor", "Motion", ["on", "off"], { device_class: ["motion"] }],
  ["binary_sensor", "Window", ["on", "off"], { device_class: ["window"] }],
  ["cover", "Blinds", ["open", "closed"], { current_position: ["0", "60", "100"] }],
  ["climate", "Thermostat", ["heat", "off"], { current_temperature: ["20.5", "21"], temperature: ["21", "22"] }],
  ["media_player", "Speaker", ["playing", "idle", "off"], { volume_level: ["0.3", "0.45"] }],
  ["lock", "Door Lock", ["locked", "unlocked"], {}],
  ["vacuum", "Robot Vacuum", ["docked", "cleaning"], {}],
];

export interface Entity {
  name: string;
  domain: string;
  area: string;
  state: string;
  attributes: Record<string, string>;
}

export interface ConversationShape {
  entities: number;
  tools: number;
  rounds: number;
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function entities(random: () => number, n: number): Entity[] {
  const out: Entity[] = [];
  for (let i = 0; out.length < n; i++) {
    const area = AREAS[i % AREAS.length]!;
    const [domain, kind, states, attrs] = KINDS[Math.floor(i / AREAS.length) % KINDS.length]!;
    const round = Math.floor(i / (AREAS.length * KINDS.length));
    const attributes = Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, pick(random, v)]));
    out.push({ name: `${area} ${kind}${round ? ` ${round + 1}` : ""}`, domain, area, state: pick(random, states), attributes });
  }
  return out;
}

/** One entity as HA's LLM API lists it: the static context without attributes, the live context with them. */
function entityYaml(e: Entity, live = false): string {
  const lines = [`- names: ${e.name}`, `  domain: ${e.domain}`, `  state: '${e.state}'`, `  areas: ${e.area}`];
  const attrs = Object.entries(e.attributes);
  if (live && attrs.length) lines.push("  attributes:", ...attrs.map(([k, v]) => `    ${k}: '${v}'`));
  return lines.join("\n");
}

function systemPrompt(list: Entity[]): string {
  return [
    "You are a voice assistant for Home Assistant.",
    "Answer questions about the world truthfully.",
    "Answer in plain text. Keep it simple and to the point.",
    "When controlling Home Assistant always call the intent tools. Use HassTurnOn to lock and HassTurnOff to unlock a lock. When controlling a device, prefer passing just name and domain. When controlling an area, prefer passing just area name and domain.",
    "When a user asks to turn on all devices of a specific type, ask user to specify an area, unless there is only one device of that type.",
    "This device is not able to start timers.",
    "You ARE equipped to answer questions about the current state of the home using the `GetLiveContext` tool. This is a primary function. Do not state you lack the functionality if the question requires live data.",
    "Current time is 19:42:07. Today's date is 2026-11-21.",
    "Static Context: An overview of the areas and the devices in this smart home:",
    ...list.map((x) => entityYaml(x)),
  ].join("\n");
}

/** A round: the user's request and what the assistant does about it. */
function round(random: () => number, list: Entity[], r: number): ChatMessage[] {
  const e = pick(random, list);
  const other = pick(random, list);
  const id = (j: number) => `call_${r}_${j}`;
  const done = (targets: Entity[]) =>
    JSON.stringify({ speech: {}, response_type: "action_done", data: { targets: [], success: targets.map((t) => ({ name: t.name, type: "entity", id: `${t.domain}.${t.name.toLowerCase().replaceAll(" ", "_")}` })), failed: [] } });
  const kind = random();
  if (kind < 0.45) {
    // one or two devices switched, as parallel calls
    const targets = random() < 0.3 ? [e, other] : [e];
    const verb = random() < 0.5 ? "on" : "off";
    const calls = targets.map((t, j) => ({ id: id(j), type: "function" as const, function: { name: verb === "on" ? "HassTurnOn" : "HassTurnOff", arguments: JSON.stringify({ name: t.name, domain: [t.domain] }) } }));
    return [
      { role: "user", content: `Turn ${verb} the ${targets.map((t) => t.name.toLowerCase()).join(" and the ")}` },
      { role: "assistant", content: null, tool_calls: calls },
      ...targets.map((t, j): ChatMessage => ({ role: "tool", tool_call_id: id(j), content: done([t]) })),
      { role: "assistant", content: `Turned ${verb} the ${targets.map((t) => t.name.toLowerCase()).join(" and the ")}.` },
    ];
  }
  if (kind < 0.65) {
    // a state question answered from the live context: a large tool result
    const live = `Live Context: An overview of the areas and the devices in this smart home:\n${list.map((x) => entityYaml(x, true)).join("\n")}`;
    return [
      { role: "user", content: `What is the ${e.name.toLowerCase()} at right now?` },
      { role: "assistant", content: null, tool_calls: [{ id: id(0), type: "function", function: { name: "GetLiveContext", arguments: "{}" } }] },
      { role: "tool", tool_call_id: id(0), content: JSON.stringify({ success: true, result: live }) },
      { role: "assistant", content: `The ${e.name.toLowerCase()} is ${e.state}${Object.keys(e.attributes).length ? `, with ${Object.entries(e.attributes).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(" and ")}` : ""}.` },
    ];
  }
  if (kind < 0.9) {
    const item = pick(random, ["milk", "eggs", "coffee beans", "dish soap", "bread", "batteries"]);
    return [
      { role: "user", content: `Add ${item} to my shopping list` },
      { role: "assistant", content: null, tool_calls: [{ id: id(0), type: "function", function: { name: "HassListAddItem", arguments: JSON.stringify({ item, name: "Shopping List" }) } }] },
      { role: "tool", tool_call_id: id(0), content: JSON.stringify({ speech: {}, response_type: "action_done", data: { targets: [], success: [{ name: "Shopping List", type: "entity", id: "todo.shopping_list" }], failed: [] } }) },
      { role: "assistant", content: `Added ${item} to your shopping list.` },
    ];
  }
  return [
    { role: "user", content: pick(random, ["Thanks!", "How tall is the Eiffel Tower?", "Tell me a short joke about cats.", "What should I cook tonight with potatoes and leeks?"]) },
    { role: "assistant", content: pick(random, ["You're welcome!", "The Eiffel Tower is about 330 metres tall.", "Why did the cat sit on the computer? To keep an eye on the mouse.", "A potato and leek soup: sweat the leeks in butter, add diced potatoes and stock, simmer 20 minutes and blend."]) },
  ];
}

/** A random shape within HA's ranges: 50-300 entities, 34-76 tools, 1-30 rounds. */
export function randomShape(random: () => number): ConversationShape {
  return { entities: 50 + Math.floor(random() * 251), tools: 34 + Math.floor(random() * 43), rounds: 1 + Math.floor(random() * 30) };
}

/** The request HA sends for one conversation of `shape` (OpenAI Chat Completions form, last message the user's). */
export function haConversation(shape: ConversationShape, seed: number): ChatCompletionRequest {
  const random = seededRandom(seed);
  const list = entities(random, shape.entities);
  const tools = [...HA_TOOLS, ...MCP_TOOLS].slice(0, Math.min(shape.tools, HA_TOOLS.length + MCP_TOOLS.length));
  const messages: ChatMessage[] = [{ role: "system", content: systemPrompt(list) }];
  for (let r = 0; r < shape.rounds - 1; r++) messages.push(...round(random, list, r));
  messages.push({ role: "user", content: `Turn off the ${pick(random, list).name.toLowerCase()} please` });
  return { model: "bench-model", messages, tools };
}
