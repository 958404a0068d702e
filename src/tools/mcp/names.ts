/**
 * The names the model sees for MCP tools: `mcp_{server}_{tool}`, valid OpenAI function names
 * (`^[a-zA-Z0-9_-]{1,64}$`). Calls are mapped back through the table this builds, never by
 * parsing the prefix (server `a_b` + tool `c` and server `a` + tool `b_c` give the same text).
 */
import { createHash } from "node:crypto";

/** OpenAI's limit on function names. */
const MAX_TOOL_NAME_LENGTH = 64;
/** Hex digits of the hash that makes a cut or shared name unique (32 bits: collisions need ~65k tools). */
const HASH_DIGITS = 8;

export interface McpToolRef {
  server: string;
  /** The tool's name as the server reports it. */
  tool: string;
}

/** `mcp_{server}_{tool}` with every character outside [A-Za-z0-9_-] replaced by `_`. */
function plainToolName(ref: McpToolRef): string {
  return `mcp_${ref.server}_${ref.tool}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

function hashedName(plain: string, ref: McpToolRef): string {
  const digest = createHash("sha256").update(`${ref.server}\0${ref.tool}`).digest("hex").slice(0, HASH_DIGITS);
  return `${plain.slice(0, MAX_TOOL_NAME_LENGTH - HASH_DIGITS - 1)}_${digest}`;
}

/**
 * Names every tool of `refs`: the plain name when it fits in 64 characters and no other tool has
 * it; otherwise the plain name cut to 55 characters plus `_` and 8 hex digits of a SHA-256 of
 * server and tool. The result depends only on the set, not on its order.
 * @returns exposed name -> the tool it calls
 */
export function assignToolNames(refs: readonly McpToolRef[]): Map<string, McpToolRef> {
  const byPlain = new Map<string, McpToolRef[]>();
  for (const ref of refs) {
    const plain = plainToolName(ref);
    const group = byPlain.get(plain);
    if (group) group.push(ref);
    else byPlain.set(plain, [ref]);
  }
  const table = new Map<string, McpToolRef>();
  for (const [plain, group] of byPlain) {
    if (group.length === 1 && plain.length <= MAX_TOOL_NAME_LENGTH) table.set(plain, group[0]!);
    else for (const ref of group) table.set(hashedName(plain, ref), ref);
  }
  return table;
}
