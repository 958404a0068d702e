/**
 * Augmented model files: one YAML file per model in the models directory (conf/models/*.yml|yaml),
 * validated with TypeBox like the main config, `${ENV}` interpolated. See docs/augmented-models.md.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { Type as T, type Static } from "@sinclair/typebox";
import { interpolate, InterpolationError } from "./interpolate.ts";
import { checkSchema, ConfigError, readDocument } from "./load.ts";
import { SelectionOverrideSchema, type Config } from "./schema.ts";

const ToolDefinition = T.Object(
  {
    type: T.Literal("function", { default: "function" }),
    function: T.Object({ name: T.String({ minLength: 1 }), description: T.Optional(T.String()), parameters: T.Optional(T.Record(T.String(), T.Unknown())) }, { additionalProperties: true }),
  },
  { additionalProperties: false },
);

const InlineSkill = T.Object({ name: T.String({ minLength: 1 }), description: T.String({ default: "" }), content: T.String({ minLength: 1 }) }, { additionalProperties: false });

const McpToolFilterSchema = T.Object(
  {
    /** Only tools matching one of these globs (the server's tool name or the mcp_... name); applied first. */
    whitelist: T.Optional(T.Array(T.String())),
    /** Tools matching one of these are removed. */
    blacklist: T.Optional(T.Array(T.String())),
  },
  { additionalProperties: false },
);

/** How tool-loop status reaches the client: nothing, `proxy_status` chunks, or reasoning text (docs/augmented-models.md). */
export const StatusMode = T.Union([T.Literal("off"), T.Literal("chunks"), T.Literal("thinking")]);

const ModelFileSchema = T.Object(
  {
    /** The name clients ask for; `augmented/` is the convention, not a requirement. */
    name: T.String({ minLength: 1 }),
    /** The model sent upstream (an alias, `upstream/model`, or a served id); default: `name`. */
    upstream_model: T.Optional(T.String({ minLength: 1 })),
    description: T.String({ default: "" }),
    owned_by: T.String({ default: "llm-proxy" }),
    /** Prepended to the conversation (merged into the client's first system message); may hold `{{tool(...)}}` templates. */
    system_prompt: T.String({ default: "" }),
    /** Proxy-owned tools: a tool's name (its source's definition), or an OpenAI definition run by the source that owns the name. */
    tools: T.Array(T.Union([T.String({ minLength: 1 }), ToolDefinition]), { default: [] }),
    /** Global skills by name, or skills written here. */
    skills: T.Array(T.Union([T.String({ minLength: 1 }), InlineSkill]), { default: [] }),
    include_global_skills: T.Boolean({ default: true }),
    skill_mode: T.Union([T.Literal("inline"), T.Literal("on_demand")], { default: "inline" }),
    /** Rounds of proxy tool calls per request; then one last call without proxy tools. */
    max_tool_rounds: T.Integer({ minimum: 1, default: 10 }),
    tool_timeout_ms: T.Integer({ minimum: 1, default: 30_000 }),
    /** Status while tools run; default: `chunks` on the OpenAI front, `thinking` on the Ollama front. */
    status: T.Optional(StatusMode),
    /** Request defaults (temperature, top_p, max_tokens, ...) used when the client sends none. */
    params: T.Record(T.String(), T.Unknown(), { default: {} }),
    /** Tool-selection overrides for this model (docs/tool-selection.md). */
    selection: T.Optional(SelectionOverrideSchema),
    /** MCP servers whose tools the model is offered (docs/mcp.md): names, or name -> tool-name globs. */
    // No default: TypeBox would merge a map into a default [] (Object.assign onto an array).
    mcp_servers: T.Optional(T.Union([T.Array(T.String({ minLength: 1 })), T.Record(T.String(), T.Union([T.Null(), McpToolFilterSchema]))])),
  },
  { additionalProperties: false },
);

export type ModelFile = Static<typeof ModelFileSchema> & { file: string };
export type StatusModeValue = Static<typeof StatusMode>;

/** The models and skills directories of `config` read from `configPath` (see schema.ts models_dir/skills_dir). */
export function augmentDirs(config: Config, configPath: string | undefined): { modelsDir: string; skillsDir: string } {
  const beside = (name: string) => (configPath ? join(dirname(configPath), name) : join("conf", name));
  return { modelsDir: config.models_dir || beside("models"), skillsDir: config.skills_dir || beside("skills") };
}

/**
 * Reads every `*.yml|*.yaml` file of `dir` (a missing directory has none).
 * @throws ConfigError naming the file, the key path, what was expected and what was found; or two
 *   files defining the same model name
 */
export function readModelFiles(dir: string, env: Record<string, string | undefined>): ModelFile[] {
  if (!existsSync(dir)) return [];
  const models: ModelFile[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const ext = extname(entry).toLowerCase();
    if (ext !== ".yml" && ext !== ".yaml") continue;
    const file = join(dir, entry);
    let doc: unknown;
    try {
      doc = interpolate(readDocument(file), env);
    } catch (err) {
      if (err instanceof InterpolationError) throw new ConfigError(`${file}: ${err.path}: ${err.message}`);
      throw err;
    }
    models.push({ ...checkSchema(ModelFileSchema, doc, file), file });
  }
  const seen = new Map<string, string>();
  for (const model of models) {
    const other = seen.get(model.name);
    if (other) throw new ConfigError(`${model.file}: name: expected a model name no other file uses, found "${model.name}" (also in ${other})`);
    seen.set(model.name, model.file);
  }
  return models;
}
