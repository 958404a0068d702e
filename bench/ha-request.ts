/**
 * A Home Assistant sized chat request for the benchmarks: HA's 34 Assist tools
 * (../shared/datasets/tool-selection/tools/ha-assist.json) and a system prompt listing exposed
 * entities as HA writes them, in the OpenAI and the Ollama wire format.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const TOOLS_DIR = join(import.meta.dir, "..", "..", "shared", "datasets", "tool-selection", "tools");
const TOOLS_FILE = join(TOOLS_DIR, "ha-assist.json");

/** HA's 34 Assist tools, and with `withMcp` the 42 MCP tools of the data set after them (76). */
export function haTools(withMcp = false): Record<string, unknown>[] {
  const files = withMcp ? [TOOLS_FILE, join(TOOLS_DIR, "extra-mcp.json")] : [TOOLS_FILE];
  return files.flatMap((f) => JSON.parse(readFileSync(f, "utf8")) as Record<string, unknown>[]);
}

const AREAS = ["Kitchen", "Living Room", "Bedroom", "Office", "Hallway", "Garage"];
const DEVICES: [domain: string, name: string, state: string][] = [
  ["light", "Ceiling Light", "off"],
  ["light", "Lamp", "on"],
  ["switch", "Fan", "off"],
  ["sensor", "Temperature", "21.4 °C"],
  ["cover", "Blinds", "open"],
];

/** The system prompt: HA's instructions and the exposed entities of six areas (~1,000 tokens). */
export function systemPrompt(): string {
  const entities = AREAS.flatMap((area) =>
    DEVICES.map(([domain, name, state]) => `- names: ${area} ${name}\n  domain: ${domain}\n  state: '${state}'\n  areas: ${area}`),
  );
  return [
    "You are a voice assistant for Home Assistant.",
    "Answer questions about the world truthfully.",
    "Answer in plain text. Keep it simple and to the point.",
    "When controlling Home Assistant always call the intent tools. Use HassTurnOn to lock and HassTurnOff to unlock a lock.",
    "Current time is 19:42:07. Today's date is 2026-11-21.",
    "Static Context: An overview of the areas and the devices in this smart home:",
    ...entities,
  ].join("\n");
}

/** The OpenAI Chat Completions body, as HA's OpenAI-compatible integrations send it. */
export function openaiRequest(stream: boolean): Record<string, unknown> {
  return {
    model: "bench-model",
    messages: [
      { role: "system", content: systemPrompt() },
      { role: "user", content: "Turn on the kitchen ceiling light and tell me the temperature in the office." },
    ],
    tools: haTools(),
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
}

/** The same conversation as HA's Ollama integration sends it to /api/chat. */
export function ollamaRequest(stream: boolean): Record<string, unknown> {
  const { model, messages, tools } = openaiRequest(stream);
  return { model, messages, tools, stream, keep_alive: "-1s", options: { num_ctx: 8192 } };
}
