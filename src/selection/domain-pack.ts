/**
 * Domain packs: what is specific to one field (the way people speak about a home, the rooms of a
 * house) kept as data, out of the selector's code. A pack is a YAML file (format in
 * docs/tool-selection.md, "Domain packs"; example: conf/selection/home-assistant.yaml) with
 *
 * - `detect`: tool-name globs and how many of a request's tools must match them for the pack to
 *   switch itself on (`selection.packs: [auto]`);
 * - `paraphrases`: ordered rewrites of a user message into the plainer words of tool descriptions
 *   (lexicon.ts);
 * - `places`: words for where to act (places.ts);
 * - `opposites`: word pairs that make two tool names opposites, beyond general English (related.ts).
 *
 * `selection.packs` lists `auto` (the shipped packs whose `detect` rule matches the request's
 * tools), shipped pack names (always on) and paths to YAML files of one's own (always on).
 * Packs are parsed with the `yaml` library and validated with TypeBox; an invalid pack is an error
 * naming the file and the field, raised when the configuration is applied.
 */
import { readFileSync } from "node:fs";
import { Type as T, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse } from "yaml";
import homeAssistant from "../../conf/selection/home-assistant.yaml" with { type: "text" };
import { compileParaphrases, type Paraphrase } from "./lexicon.ts";
import { placeMatcher, type PlaceMatcher } from "./places.ts";

const Rewrite = T.Union([
  T.Object({ particle: T.String({ minLength: 1 }), then: T.String({ minLength: 1 }), say: T.String() }, { additionalProperties: false }),
  T.Object({ phrase: T.String({ minLength: 1 }), say: T.String() }, { additionalProperties: false }),
  T.Object({ regex: T.String({ minLength: 1 }), say: T.String() }, { additionalProperties: false }),
]);

export const DomainPackSchema = T.Object(
  {
    name: T.String({ minLength: 1, pattern: "^[a-z0-9][a-z0-9_-]*$" }),
    description: T.Optional(T.String()),
    detect: T.Optional(
      T.Object({ tool_names: T.Array(T.String({ minLength: 1 }), { minItems: 1 }), min_matches: T.Integer({ minimum: 1, default: 1 }) }, { additionalProperties: false }),
    ),
    paraphrases: T.Array(Rewrite, { default: [] }),
    places: T.Array(T.String({ minLength: 1 }), { default: [] }),
    opposites: T.Array(T.Tuple([T.String({ minLength: 1 }), T.String({ minLength: 1 })]), { default: [] }),
  },
  { additionalProperties: false },
);

export type DomainPack = Static<typeof DomainPackSchema>;
export type PackRewrite = Static<typeof Rewrite>;

/** A pack that cannot be used; the message names the source and the field. */
export class DomainPackError extends Error {
  override name = "DomainPackError";
}

/**
 * Parses and validates one pack.
 * @param text the YAML text; @param source where it came from, for messages (a path or a name)
 * @throws DomainPackError on invalid YAML, a field that does not fit the schema, or a pattern that is not a valid regular expression
 */
export function parseDomainPack(text: string, source: string): DomainPack {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new DomainPackError(`${source}: invalid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const value = Value.Default(DomainPackSchema, doc ?? {});
  const problem = [...Value.Errors(DomainPackSchema, value)][0];
  if (problem) throw new DomainPackError(`${source}: ${problem.path.slice(1).replace(/\//g, ".") || "(root)"}: ${problem.message.toLowerCase()}, found ${JSON.stringify(problem.value)?.slice(0, 80)}`);
  const pack = value as DomainPack;
  try {
    compileParaphrases(pack.paraphrases);
  } catch (err) {
    throw new DomainPackError(`${source}: paraphrases: ${(err as Error).message}`);
  }
  return pack;
}

let builtin: readonly DomainPack[] | undefined;

/**
 * The packs shipped with llm-proxy (conf/selection/*.yaml, embedded in the binary), parsed on first
 * use: parsing and validating them at start-up cost an idle proxy ~2 MiB of RSS (docs/benchmarks.md, "Idle").
 */
export function builtinPacks(): readonly DomainPack[] {
  return (builtin ??= [parseDomainPack(homeAssistant as string, "conf/selection/home-assistant.yaml")]);
}

/** What the selector uses from the packs that apply to one request. */
export interface DomainKnowledge {
  /** Names of the packs, in order ([] when none applies). */
  names: string[];
  /** The text in plainer words (the same string when no rewrite applied). */
  paraphrase: Paraphrase;
  places: PlaceMatcher;
  /** Extra word pairs for opposite tool names. */
  opposites: [string, string][];
}

const knowledgeCache = new Map<string, DomainKnowledge>();

/** The combined knowledge of `packs` (rewrites in pack order, places and opposites joined); memoised by pack names. */
export function compilePacks(packs: readonly DomainPack[]): DomainKnowledge {
  const key = packs.map((p) => p.name).join("\0");
  let known = knowledgeCache.get(key);
  if (!known) {
    known = {
      names: packs.map((p) => p.name),
      paraphrase: compileParaphrases(packs.flatMap((p) => p.paraphrases)),
      places: placeMatcher(packs.flatMap((p) => p.places)),
      opposites: packs.flatMap((p) => p.opposites),
    };
    knowledgeCache.set(key, known);
  }
  return known;
}

/** No pack: the selector's general behaviour. */
export const NO_PACKS: DomainKnowledge = compilePacks([]);

/**
 * Resolves `selection.packs` into packs: `auto` stays a marker (resolved per tool list by
 * `packsFor`), a shipped pack's name is that pack, anything else is read as a YAML file.
 * @throws DomainPackError for an unknown name, an unreadable file or an invalid pack
 */
export function loadPacks(entries: readonly string[]): { auto: boolean; packs: DomainPack[] } {
  const packs: DomainPack[] = [];
  let auto = false;
  for (const entry of entries) {
    if (entry === "auto") {
      auto = true;
      continue;
    }
    const builtin = builtinPacks().find((p) => p.name === entry);
    if (builtin) {
      packs.push(builtin);
      continue;
    }
    if (!/\.ya?ml$/i.test(entry)) throw new DomainPackError(`selection.packs: "${entry}" is neither "auto", a shipped pack (${builtinPacks().map((p) => p.name).join(", ")}) nor a .yaml file`);
    let text: string;
    try {
      text = readFileSync(entry, "utf8");
    } catch (err) {
      throw new DomainPackError(`${entry}: cannot read the domain pack: ${(err as Error).message}`);
    }
    packs.push(parseDomainPack(text, entry));
  }
  return { auto, packs };
}

/** True when `pack`'s detect rule matches at least `min_matches` of `toolNames`. */
export function packDetected(pack: DomainPack, toolNames: readonly string[]): boolean {
  if (!pack.detect) return false;
  const globs = pack.detect.tool_names.map((g) => new Bun.Glob(g));
  let hits = 0;
  for (const name of toolNames) if (globs.some((g) => g.match(name)) && ++hits >= pack.detect.min_matches) return true;
  return false;
}

/**
 * The knowledge for one tool list: the explicitly listed packs, then (with `auto`) every shipped
 * pack whose detect rule matches, each pack once.
 */
export function packsFor(loaded: { auto: boolean; packs: readonly DomainPack[] }, toolNames: readonly string[]): DomainKnowledge {
  const chosen = [...loaded.packs];
  if (loaded.auto) for (const p of builtinPacks()) if (!chosen.some((c) => c.name === p.name) && packDetected(p, toolNames)) chosen.push(p);
  return chosen.length === 0 ? NO_PACKS : compilePacks(chosen);
}
