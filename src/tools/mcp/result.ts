/**
 * An MCP `tools/call` result as the text of a `tool` message (the canonical OpenAI form carries
 * text only). Spec: https://modelcontextprotocol.io/specification/2025-06-18/server/tools#tool-result
 *
 * - `structuredContent`, when present, is the result: its JSON text (servers also send it as text
 *   for older clients, so the text parts would repeat it);
 * - otherwise the content blocks joined by newlines: text as is, embedded text resources with their
 *   URI and text, images, audio, blobs and resource links as short `[...]` placeholders (the model
 *   cannot see bytes in a tool message);
 * - `isError` makes it an error result.
 */
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/sdk/types.js";
import type { ToolResult } from "../source.ts";

/** Decoded size of base64 text, e.g. "1.2 KB". */
function size(base64: string): string {
  const bytes = Math.floor((base64.replace(/=+$/, "").length * 3) / 4);
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KB`;
}

function blockText(block: ContentBlock): string {
  switch (block.type) {
    case "text":
      return block.text;
    case "image":
    case "audio":
      return `[${block.type}: ${block.mimeType}, ${size(block.data)}]`;
    case "resource_link":
      return `[resource link: ${block.name} ${block.uri}${block.description ? ` (${block.description})` : ""}]`;
    case "resource": {
      const { resource } = block;
      if ("text" in resource && typeof resource.text === "string") return `[resource ${resource.uri}]\n${resource.text}`;
      const blob = "blob" in resource && typeof resource.blob === "string" ? `, ${size(resource.blob)}` : "";
      return `[resource: ${resource.uri}${resource.mimeType ? `, ${resource.mimeType}` : ""}${blob}]`;
    }
    default:
      return `[${(block as { type: string }).type} content]`;
  }
}

/** The text the model sees for one call's result (`toolResult`: the form of protocol 2024-10-07 servers). */
export function toToolResult(result: CallToolResult | { toolResult: unknown }): ToolResult {
  if ("toolResult" in result) return { content: typeof result.toolResult === "string" ? result.toolResult : JSON.stringify(result.toolResult) };
  const content =
    result.structuredContent !== undefined
      ? JSON.stringify(result.structuredContent)
      : (result.content ?? []).map(blockText).join("\n");
  return result.isError ? { content, isError: true } : { content };
}
