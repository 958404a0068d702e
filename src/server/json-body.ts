/**
 * The parser of every JSON request body (Elysia `parse` hook): reads the text, refuses a body nested
 * deeper than `server.json_depth_limit` with a 400 before anything walks it, then parses it keeping
 * its text (raw-json.ts). A 30,000-deep body once cost 2.6 GB and a stack overflow in validation.
 */
import { ParseError } from "elysia";
import { nestsDeeperThan, parseJsonKeepingText } from "../protocol/raw-json.ts";
import type { Runtime } from "../runtime.ts";
import { ProxyError } from "./errors.ts";

/**
 * @returns an Elysia parse hook
 * @throws (from the hook) ProxyError 400 `json_too_deep`, or Elysia's ParseError (400) for text that is not JSON
 */
export function jsonBody(runtime: Runtime) {
  return async ({ request }: { request: Request }): Promise<unknown> => {
    const text = await request.text();
    const limit = runtime.state.config.server.json_depth_limit;
    if (nestsDeeperThan(text, limit)) {
      throw new ProxyError(400, `The JSON body nests arrays and objects more than ${limit} levels deep`, "invalid_request_error", "json_too_deep");
    }
    try {
      return parseJsonKeepingText(text);
    } catch (err) {
      throw new ParseError(err as Error);
    }
  };
}
