/**
 * A small lexicon of everyday English that says the same thing in plainer words: phrasal verbs and
 * idioms ("fire up" = start, "kill the lights" = turn off, "roll up" = open, "carry on" = resume),
 * gradable adjectives and the quantity they speak of ("louder" = volume, "dimmer" = brightness,
 * "chilly" = temperature), British/American variants ("telly", "lounge", "hoover") and a few
 * abbreviations ("mins", "temp").
 *
 * Tool descriptions are written in plain verbs ("Turns on", "Sets the volume"); people speak in
 * particles and idioms. The lexicon is general English, written from dictionaries of phrasal verbs
 * and common speech: it names no tool, no tool family and no sentence of any evaluation set, and
 * it reads only the query. Rules apply in order, each to the text the previous one left, so a
 * specific phrase ("tick eggs off") is rewritten before a general one ("... off").
 */

/** Up to three words between a verb and its particle: "switch [the porch light] on". */
const GAP = String.raw`((?:\s+(?!on\b|off\b|up\b|down\b)[\w'-]+){0,3}?)`;

type Rule = readonly [pattern: RegExp, replacement: string];

/** Words after which "on" is a preposition ("put it on the list"), not a particle ("put it on"). */
const NOT_PARTICLE = String.raw`(?!\s+(?:the|a|an|my|our|your|his|her|their|this|that|these|those|to|top|some|something|anything)\b)`;

/**
 * `verbs GAP particle` -> `canonical` + the words in the gap ("put the big light on" -> "turn on the
 * big light"). `on` followed by a noun phrase is a preposition and does not match.
 */
function particle(verbs: string, particleWord: string, canonical: string): Rule {
  const guard = particleWord === "on" ? NOT_PARTICLE : "";
  return [new RegExp(String.raw`\b(?:${verbs})\b${GAP}\s+(?:${particleWord})\b${guard}`, "gi"), `${canonical}$1`];
}

/** A whole word or fixed phrase -> its plain equivalent. */
function phrase(words: string, canonical: string): Rule {
  return [new RegExp(String.raw`\b(?:${words})\b`, "gi"), canonical];
}

const RULES: readonly Rule[] = [
  // Lists: crossing things off, running out.
  particle("tick|cross|check|strike|scratch", "off", "complete check off"),
  phrase(String.raw`mark(?:\s+[\w'-]+){0,3}?\s+(?:as\s+)?(?:done|complete|completed|finished)`, "complete"),
  phrase(String.raw`(?:run|ran|running)\s+out\s+of|out\s+of|running\s+low\s+on|low\s+on`, "need to buy, shopping"),
  // Time and quantities taken off or added.
  particle("knock|take|shave|chop", "off", "remove"),
  phrase("get rid of|scrap|ditch|forget about", "cancel"),
  // Going back to a base.
  phrase(String.raw`(?:go|going|goes|head|send|take)(?:\s+(?:it|back|home))*\s+(?:home|to\s+(?:the\s+|its\s+|your\s+)?(?:dock|base|charger))|dock\b|recharge`, "return to base home"),
  // Daily routines.
  phrase(String.raw`(?:off|going|head|heading|go)\s+to\s+(?:bed|sleep)|bed\s*time|turn\s+in|hit\s+the\s+(?:sack|hay)|night\s+night|nighty\s+night`, "good night bed sleep"),
  phrase(String.raw`(?:heading|head|going|popping|nipping)\s+out|leaving|we're\s+out|see\s+you\s+later`, "leave home"),
  phrase(String.raw`(?:i'm|i\s+am|we're|we\s+are)\s+up|woke\s+up|wake\s+up|rise\s+and\s+shine|start\s+the\s+day`, "good morning"),
  // Power on / off.
  phrase(String.raw`lights?\s+out`, "turn off the lights"),
  particle("switch|flick|flip|put|stick|pop|click|power|throw|turn|shut|cut|kill|knock", "off", "turn off"),
  particle("switch|flick|flip|put|stick|pop|click|power|throw|turn", "on", "turn on"),
  particle("shut|power|close|wind", "down", "turn off"),
  particle("fire|power|boot|spin|start", "up", "turn on start"),
  particle("get", "going|running|started", "start turn on"),
  particle("light", "up", "turn on the lights"),
  phrase("illuminate|illuminates|illuminating", "turn on the lights"),
  phrase("kill|unplug|extinguish|douse", "turn off"),
  [/(?<!turn on )\b(?:start|starts|starting)\b(?! turn on)/gi, "start turn on"],
  // Open / close, raise / lower.
  particle("roll|lift|wind|draw|open", "up", "open raise"),
  particle("pull|bring", "up", "open find show"),
  particle("roll|pull|let|wind", "down", "close lower"),
  particle("draw", "back|open|apart", "open"),
  phrase(String.raw`draw|shut`, "close"),
  particle("crank|bump|ramp|pump|jack|dial|push|notch|turn|kick", "up", "raise"),
  particle("tone|dial|bring|take|turn|put|knock", "down", "lower"),
  phrase(String.raw`let(?:\s+[\w'-]+){1,3}?\s+(?:in|through)|buzz(?:\s+[\w'-]+){0,2}?\s+in`, "unlock open"),
  phrase("bolt", "lock"),
  // Playback.
  phrase(String.raw`carry\s+on|keep\s+(?:going|playing)|go\s+on|pick\s+up\s+where|continue|resume|resumes`, "resume unpause continue"),
  phrase(String.raw`hang\s+on|hold|freeze`, "pause"),
  phrase(String.raw`skip|skip\s+ahead|fast\s+forward`, "next"),
  phrase(String.raw`go\s+back|rewind|back\s+up|replay|play\s+(?:\w+\s+)?again|once\s+more`, "previous again"),
  phrase(String.raw`put\s+on`, "play turn on"),
  // Telling everyone.
  phrase(String.raw`tell\s+(?!me\b|us\b|if\b|whether\b|when\b|what\b|how\b|who\b|where\b|which\b)|let(?:\s+[\w'-]+){1,2}?\s+know|shout|yell|call\s+(?:up|down)stairs`, "announce tell "),
  // Notes and look-ups.
  phrase(String.raw`(?:jot|write|note|put)\s+(?:\w+\s+)?down|make\s+a\s+note|take\s+a\s+note`, "note"),
  particle("look|search|google", "up", "search"),
  phrase(String.raw`google|find\s+out|dig\s+(?:out|up)`, "search find"),
  // Gradable adjectives: the quantity they speak of.
  phrase(String.raw`louder|quieter|softer|loud|quiet|mute|muted|unmute|silence|hear`, "$& volume"),
  phrase(String.raw`brighter|brighten|dimmer|dim|darker|darken|dark|bright|glaring`, "$& brightness light"),
  phrase(String.raw`warmer|warm|colder|cold|cooler|cool|hotter|hot|chilly|freezing|boiling|stuffy|heat|heating`, "$& temperature"),
  [/\bdegrees?\b|°[cf]?\b/gi, "$& temperature"],
  // Kinds and the kind they belong to.
  phrase(
    "red|orange|yellow|green|blue|purple|violet|pink|magenta|cyan|turquoise|teal|lilac|lavender|amber|white|warm white|cool white|daylight white",
    "$& color",
  ),
  phrase("jazz|rock|pop|classical|hip hop|rap|reggae|blues|metal|techno|house music|lo-fi|lofi|country music|folk|soul|disco|radio|podcast|audiobook|playlist|album|song|songs|track|tracks|tune|tunes", "$& music media"),
  // Variants and abbreviations.
  phrase("inbox|e-mail|emails|mails", "email"),
  phrase("package|packages|delivery|deliveries", "$& parcel delivery"),
  phrase("film|films|flick", "movie"),
  phrase("telly", "tv"),
  phrase("lounge", "living room"),
  phrase("hoover|roomba", "vacuum"),
  phrase("countdown", "timer"),
  phrase("mins?", "minutes"),
  phrase("secs?", "seconds"),
  phrase("hrs?", "hours"),
  phrase("temp", "temperature"),
  phrase("vol", "volume"),
];

/**
 * The query said in plainer words: every lexicon rule applied in order, case-insensitively, to the
 * whole text.
 * @param text a user message (any length; no I/O)
 * @returns the rewritten text, or `text` itself (the same string) when no rule applied
 */
export function paraphrase(text: string): string {
  let out = text.replace(/[’]/g, "'");
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  out = out.replace(/\s+/g, " ").trim();
  return out === text.replace(/[’]/g, "'").replace(/\s+/g, " ").trim() ? text : out;
}
