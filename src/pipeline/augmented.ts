/**
 * The augmented models of one running config, ready to serve: each model file with its skills
 * gathered, its system prompt parsed into templates, and its proxy-owned tools looked up in the
 * tool registry. Built at start and on every reload (never on the request path); a bad file
 * refuses the whole set.
 */
import { join, resolve, sep } from "node:path";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../config/load.ts";
import { augmentDirs, readModelFiles, type ModelFile, type StatusModeValue } from "../config/models.ts";
import type { Tool } from "../protocol/openai.ts";
import { ToolSet, type OwnedTool, type ToolRegistry } from "../tools/registry.ts";
import { readSkillDir, SkillSource, skillsPrompt, type Skill } from "../tools/skills.ts";
import { parseTemplates, TemplateSyntaxError, type TemplatePart } from "../tools/templates.ts";
import type { McpManager, McpSource } from "../tools/mcp/manager.ts";

/** One augmented model file made ready: its config, parsed prompt, skills, and lookups of its proxy-owned tools. */
export class AugmentedModel {
  /** The system prompt (model's prompt, then skills) split into text and template calls. */
  readonly prompt: TemplatePart[];
  readonly skills: Skill[];
  /** `load_skill` over this model's skills, when they are loaded on demand. */
  readonly skillSource: SkillSource | undefined;

  constructor(
    readonly config: ModelFile,
    skills: Skill[],
    /** One source per server of the model's `mcp_servers`, with its whitelist/blacklist. */
    readonly mcpSources: McpSource[] = [],
  ) {
    this.skills = skills;
    let prompt: TemplatePart[];
    try {
      prompt = parseTemplates(config.system_prompt);
    } catch (err) {
      if (err instanceof TemplateSyntaxError) throw new ConfigError(`${config.file}: system_prompt: ${err.message}`);
      throw err;
    }
    const skillText = skillsPrompt(skills, config.skill_mode);
    if (skillText) prompt.push(prompt.length > 0 ? `\n\n${skillText}` : skillText);
    this.prompt = prompt;
    this.skillSource = config.skill_mode === "on_demand" && skills.length > 0 ? new SkillSource(`skills:${config.name}`, skills) : undefined;
  }

  get name(): string {
    return this.config.name;
  }

  /** The model name sent to resolution (alias, `upstream/model`, or a served id). */
  get upstreamModel(): string {
    return this.config.upstream_model ?? this.config.name;
  }

  /** The status mode for a client of `front`: the file's, else chunks (OpenAI) or thinking (Ollama). */
  status(front: "openai" | "ollama"): StatusModeValue {
    return this.config.status ?? (front === "ollama" ? "thinking" : "chunks");
  }

  /**
   * The proxy-owned tools this model is offered now: its `tools` entries that a source owns (a
   * source that is down lists none), plus `load_skill`, plus the tools of its `mcp_servers` (a
   * server that is down has none). A definition written in the model file replaces the source's.
   */
  toolSet(registry: ToolRegistry): ToolSet {
    const entries: OwnedTool[] = [];
    for (const entry of this.config.tools) {
      const name = typeof entry === "string" ? entry : entry.function.name;
      const owned = registry.find(name);
      if (!owned) continue;
      entries.push(typeof entry === "string" ? owned : { source: owned.source, tool: entry as Tool });
    }
    if (this.skillSource) entries.push({ source: this.skillSource, tool: this.skillSource.list()[0]! });
    for (const source of this.mcpSources) for (const tool of source.list()) entries.push({ source, tool });
    return new ToolSet(entries);
  }

  /**
   * Waits for the first connect attempt of this model's MCP servers (bounded by their
   * connect_timeout_ms), so a request right after start-up is offered their tools; immediate later.
   */
  async mcpReady(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.mcpSources.map((s) => s.ready(signal)));
  }

  /** A tool a template may call: this model's own first, then any registered source's. */
  findTool(registry: ToolRegistry, name: string): OwnedTool | undefined {
    if (this.skillSource && name === this.skillSource.list()[0]!.function.name) return { source: this.skillSource, tool: this.skillSource.list()[0]! };
    return registry.find(name);
  }
}

/** The augmented models by name (and `name:latest`, as Ollama clients may add it). */
export class AugmentedModels {
  readonly byName = new Map<string, AugmentedModel>();
  readonly modelsDir: string;
  readonly skillsDir: string;

  constructor(models: AugmentedModel[], dirs: { modelsDir: string; skillsDir: string }) {
    for (const model of models) this.byName.set(model.name, model);
    this.modelsDir = dirs.modelsDir;
    this.skillsDir = dirs.skillsDir;
  }

  get(name: string | undefined): AugmentedModel | undefined {
    if (!name) return undefined;
    return this.byName.get(name) ?? (name.endsWith(":latest") ? this.byName.get(name.slice(0, -7)) : undefined);
  }

  get all(): AugmentedModel[] {
    return [...this.byName.values()];
  }
}

/** `<skills dir>/<model name>`, refused when the name would leave the skills directory. */
function modelSkillDir(skillsDir: string, model: ModelFile): string {
  const root = resolve(skillsDir);
  const dir = resolve(join(root, model.name));
  if (dir !== root && !dir.startsWith(root + sep)) throw new ConfigError(`${model.file}: name: expected a name that stays inside the skills directory, found "${model.name}"`);
  return dir;
}

/**
 * Reads the model files and skills of `config` and builds the models. Tool names no source owns are
 * reported on stderr (a source may come up later), not refused.
 * @param configPath the config file read (directories default to its siblings)
 * @param mcp the MCP servers a model's `mcp_servers` may name (none when absent)
 * @throws ConfigError for a malformed model or skill file, a template syntax error, an unknown skill
 *   or MCP server name
 */
export function loadAugmented(
  config: Config,
  configPath: string | undefined,
  env: Record<string, string | undefined>,
  registry: ToolRegistry,
  mcp?: { manager: McpManager; servers: readonly string[] },
): AugmentedModels {
  const dirs = augmentDirs(config, configPath);
  const files = readModelFiles(dirs.modelsDir, env);
  const global = readSkillDir(dirs.skillsDir);
  const models = files.map((file) => {
    const own = readSkillDir(modelSkillDir(dirs.skillsDir, file));
    const skills = new Map<string, Skill>();
    if (file.include_global_skills) for (const s of global) skills.set(s.name, s);
    for (const [i, entry] of file.skills.entries()) {
      if (typeof entry !== "string") {
        skills.set(entry.name, { ...entry, file: `${file.file} skills[${i}]` });
        continue;
      }
      const found = global.find((s) => s.name === entry);
      if (!found) throw new ConfigError(`${file.file}: skills[${i}]: expected the name of a skill in ${dirs.skillsDir}, found "${entry}"`);
      skills.set(found.name, found);
    }
    for (const s of own) skills.set(s.name, s);
    for (const [i, entry] of file.tools.entries()) {
      const name = typeof entry === "string" ? entry : entry.function.name;
      if (!registry.find(name)) console.error(`llm-proxy: ${file.file}: tools[${i}]: no tool source has a tool named "${name}" now; the model is offered it once one does`);
    }
    const spec = file.mcp_servers ?? [];
    for (const name of Array.isArray(spec) ? spec : Object.keys(spec)) {
      if (!mcp?.servers.includes(name)) {
        const known = mcp?.servers.length ? mcp.servers.join(", ") : "none";
        throw new ConfigError(`${file.file}: mcp_servers: expected the name of a server in the MCP servers file (${known}), found "${name}"`);
      }
    }
    return new AugmentedModel(file, [...skills.values()], mcp ? mcp.manager.sources(spec) : []);
  });
  return new AugmentedModels(models, dirs);
}
