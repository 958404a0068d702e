/**
 * The parser of every JSON request body (Elysia `parse` hook): reads the text, refuses a body nested
 * deeper than `server.json_depth_limit` with a 400 before anything walks it, parses it keeping its
 * text (raw-json.ts; a `tools` array whose bytes were seen before comes from its cache), and checks
 * it against the route's schema, answering a 400 that names the first wrong field. A 30,000-deep
 * body once cost 2.6 GB and a stack overflow in validation.
 *
 * The schema is checked here rather than left to Elysia because Elysia's validation error serialises
 * the whole body into its message (`JSON.stringify` of the value, pretty-printed with every error
 * outside production), which the proxy never sends: on a fuzzed 1 MB body that was megabytes of
 * garbage and CPU per 400. Elysia still sees the schema (for the handler's types) but only ever
 * valid bodies.
 */
import type { Static, TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ParseError } from "elysia";
import { parseJsonBody } from "../protocol/raw-json.ts";
import type { Runtime } from "../runtime.ts";
import { invalidValue, ProxyError } from "./errors.ts";

/**
 * @returns an Elysia parse hook
 * @throws (from the hook) ProxyError 400 `json_too_deep` or `invalid_value`, or Elysia's ParseError (400) for text that is not JSON
 */
export function jsonBody(runtime: Runtime, schema?: TSchema) {
  const checker = schema ? TypeCompiler.Compile(schema) : undefined;
  return async ({ request }: { request: Request }): Promise<unknown> => {
    const text = await request.text();
    const limit = runtime.state.config.server.json_depth_limit;
    let parsed;
    try {
      parsed = parseJsonBody(text, limit);
    } catch (err) {
      throw new ParseError(err as Error);
    }
    if (parsed.tooDeep) {
      throw new ProxyError(400, `The JSON body nests arrays and objects more than ${limit} levels deep`, "invalid_request_error", "json_too_deep");
    }
    const value = parsed.value;
    if (checker && !checker.Check(value)) throw invalidValue(checker.Errors(value).First());
    return value;
  };
}

/**
 * The options of a route with a JSON body of `schema`: `{ body, parse }` for Elysia's route hook.
 * @example app.post("/v1/embeddings", ({ body }) => ..., jsonRoute(runtime, EmbeddingsBody))
 */
export function jsonRoute<S extends TSchema>(runtime: Runtime, schema: S): { body: S; parse: (context: { request: Request }) => Promise<Static<S>> } {
  return { body: schema, parse: jsonBody(runtime, schema) as (context: { request: Request }) => Promise<Static<S>> };
}
