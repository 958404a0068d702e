/**
 * The MCP SDK's runtime values that connection.ts uses, in one module it imports on the first
 * connect: the SDK (with Ajv and zod) costs ~11 MiB of RSS at start-up, which a proxy without MCP
 * servers never needs (docs/benchmarks.md, "Idle").
 */
export { Client } from "@modelcontextprotocol/sdk/client/index.js";
export { SSEClientTransport, SseError } from "@modelcontextprotocol/sdk/client/sse.js";
export { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
export { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
export { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
export { BunStdioTransport } from "./stdio.ts";
