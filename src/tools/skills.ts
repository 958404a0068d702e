/**
 * Skills: named instructions an augmented model gets, read from the skills directory.
 *
 * - Files directly in a directory: `*.md` (optional YAML front matter `name`, `description`),
 *   `<name>/SKILL.md`, and `*.yaml|yml` (`name`, `description`, `content`). Global skills are those
 *   of the skills directory itself; a model's own are those of `<skills dir>/<model name>/`
 *   (e.g. `skills/augmented/homeassistant/`).
 * - `inline`: the skill text is appended to the system prompt. `on_demand`: only each skill's name
 *   and description go into the system prompt, and the proxy-owned tool `load_skill(name)` returns
 *   the full text (progressive disclosure, as Claude Code-style skills do).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { Type as T } from "@sinclair/typebox";
import { parse } from "yaml";
import { checkSchema, ConfigError, readDocument } from "../config/load.ts";
import type { Tool } from "../protocol/openai.ts";
import type { ToolCallOptions, ToolResult, ToolSource } from "./source.ts";

export interface Skill {
  name: string;
  description: string;
  /** The instructions (Markdown without its front matter). */
  content: string;
  /** Where it was read from ("(inline)" for one written in a model file). */
  file: string;
}

export type SkillMode = "inline" | "on_demand";

const FrontMatter = T.Object({ name: T.Optional(T.String({ minLength: 1 })), description: T.String({ default: "" }) }, { additionalProperties: true });
const SkillFile = T.Object({ name: T.String({ minLength: 1 }), description: T.String({ default: "" }), content: T.String({ minLength: 1 }) }, { additionalProperties: false });

/** Splits `---\n<yaml>\n---\n<body>`; text without front matter is all body. */
function splitFrontMatter(text: string): { meta: string | undefined; body: string } {
  const normalised = text.replace(/^\uFEFF/, "").replace(/\r\n/g, "\n");
  if (!normalised.startsWith("---\n")) return { meta: undefined, body: normalised };
  const end = normalised.indexOf("\n---", 3);
  if (end < 0) return { meta: undefined, body: normalised };
  const after = normalised.indexOf("\n", end + 4);
  return { meta: normalised.slice(4, end + 1), body: after < 0 ? "" : normalised.slice(after + 1) };
}

/** @throws ConfigError for malformed front matter */
function readMarkdownSkill(file: string, fallbackName: string): Skill {
  const { meta, body } = splitFrontMatter(readFileSync(file, "utf8"));
  let fields: { name?: string; description: string } = { description: "" };
  if (meta !== undefined) {
    let parsed: unknown;
    try {
      parsed = parse(meta) ?? {};
    } catch (err) {
      throw new ConfigError(`${file}: invalid YAML front matter: ${(err as Error).message.split("\n")[0]}`);
    }
    fields = checkSchema(FrontMatter, parsed, `${file} (front matter)`);
  }
  return { name: fields.name ?? fallbackName, description: fields.description, content: body.trim(), file };
}

/**
 * Reads the skills directly in `dir` (not those of subdirectories that are not `<name>/SKILL.md`).
 * A missing directory has none.
 * @returns the skills sorted by name
 * @throws ConfigError for a malformed file or two skills of the same name
 */
export function readSkillDir(dir: string): Skill[] {
  if (!existsSync(dir)) return [];
  const skills: Skill[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    const ext = extname(entry).toLowerCase();
    if (statSync(path).isDirectory()) {
      const file = join(path, "SKILL.md");
      if (existsSync(file)) skills.push(readMarkdownSkill(file, entry));
    } else if (ext === ".md") {
      skills.push(readMarkdownSkill(path, basename(entry, extname(entry))));
    } else if (ext === ".yaml" || ext === ".yml") {
      skills.push({ ...checkSchema(SkillFile, readDocument(path), path), file: path });
    }
  }
  const seen = new Map<string, string>();
  for (const skill of skills) {
    const other = seen.get(skill.name);
    if (other) throw new ConfigError(`${skill.file}: skill name "${skill.name}" is also used by ${other}`);
    seen.set(skill.name, skill.file);
  }
  return skills.sort((a, b) => a.name.localeCompare(b.name));
}

/** The system prompt text for `skills`: their full text (inline), or a list naming load_skill (on_demand). */
export function skillsPrompt(skills: readonly Skill[], mode: SkillMode): string {
  if (skills.length === 0) return "";
  if (mode === "inline") return skills.map((s) => `## Skill: ${s.name}\n${s.content}`).join("\n\n");
  const list = skills.map((s) => `- ${s.name}${s.description ? `: ${s.description}` : ""}`).join("\n");
  return `Skills you can load with the load_skill tool when a request needs one:\n${list}`;
}

/** Name of the proxy-owned tool of `on_demand` skills: `load_skill(name)` returns a skill's full text. */
export const LOAD_SKILL = "load_skill";

/** The `load_skill(name)` tool over one model's skills. */
export class SkillSource implements ToolSource {
  private readonly tool: Tool;
  private readonly byName: Map<string, Skill>;

  /** @param name the source's unique name, e.g. "skills:augmented/homeassistant" */
  constructor(
    readonly name: string,
    skills: readonly Skill[],
  ) {
    this.byName = new Map(skills.map((s) => [s.name, s]));
    this.tool = {
      type: "function",
      function: {
        name: LOAD_SKILL,
        description: "Load the full instructions of one of your skills by its name, before doing what the skill is for.",
        parameters: { type: "object", properties: { name: { type: "string", enum: skills.map((s) => s.name) } }, required: ["name"] },
      },
    };
  }

  list(): Tool[] {
    return [this.tool];
  }

  async call(name: string, args: Record<string, unknown>, options: ToolCallOptions): Promise<ToolResult> {
    if (options.signal?.aborted) throw options.signal.reason;
    if (name !== LOAD_SKILL) return { content: JSON.stringify({ error: `unknown tool ${name}` }), isError: true };
    const skill = typeof args.name === "string" ? this.byName.get(args.name) : undefined;
    if (!skill) return { content: JSON.stringify({ error: `no skill named ${JSON.stringify(args.name)}; skills: ${[...this.byName.keys()].join(", ")}` }), isError: true };
    return { content: skill.content };
  }
}
