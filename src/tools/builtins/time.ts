/**
 * The `get_current_time` built-in: the current time in an IANA time zone (the proxy host's by
 * default), as ISO 8601 with the zone's offset and as an English sentence. Uses the runtime's ICU
 * time-zone data (Intl.DateTimeFormat), so no zone table of our own.
 */
import type { Tool } from "../../protocol/openai.ts";

export interface CurrentTime {
  timezone: string;
  /** ISO 8601 local time with offset, e.g. 2026-11-28T08:30:00+01:00. */
  iso: string;
  /** e.g. "Saturday, 28 November 2026, 08:30:00 CET". */
  human: string;
  /** Seconds since the epoch. */
  unix: number;
}

/** The host's IANA zone (TZ), "UTC" when the runtime does not know it. */
function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Zones whose formatters are kept: creating Intl formatters costs more than formatting (~0.1 ms each), and a house uses a handful of zones. */
const MAX_CACHED_ZONES = 64;
const formatters = new Map<string, { parts: Intl.DateTimeFormat; date: Intl.DateTimeFormat; time: Intl.DateTimeFormat }>();

/** The three formatters of `timezone`, cached. @throws RangeError for an unknown zone */
function formattersOf(timezone: string) {
  let found = formatters.get(timezone);
  if (found) return found;
  found = {
    parts: new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      timeZoneName: "longOffset",
    }),
    date: new Intl.DateTimeFormat("en-GB", { timeZone: timezone, weekday: "long", day: "numeric", month: "long", year: "numeric" }),
    time: new Intl.DateTimeFormat("en-GB", { timeZone: timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" }),
  };
  if (formatters.size >= MAX_CACHED_ZONES) formatters.delete(formatters.keys().next().value!);
  formatters.set(timezone, found);
  return found;
}

/**
 * @param timezone an IANA zone name such as "Europe/Berlin"
 * @param now the instant to describe (default: now)
 * @throws RangeError for a zone the runtime does not know
 */
export function currentTime(timezone = hostTimeZone(), now = new Date()): CurrentTime {
  const format = formattersOf(timezone);
  const parts = Object.fromEntries(format.parts.formatToParts(now).map((p) => [p.type, p.value]));
  // "GMT+01:00" -> "+01:00"; ICU may write a zero offset as plain "GMT"
  const offset = String(parts.timeZoneName).replace("GMT", "") || "+00:00";
  const iso = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
  return { timezone, iso, human: `${format.date.format(now)}, ${format.time.format(now)}`, unix: Math.floor(now.getTime() / 1000) };
}

/** The OpenAI tool definition the model is offered for `get_current_time`. */
export const currentTimeTool: Tool = {
  type: "function",
  function: {
    name: "get_current_time",
    description: "Get the current date and time, optionally in a given IANA time zone such as 'Europe/Berlin'.",
    parameters: {
      type: "object",
      properties: {
        timezone: { type: "string", description: "IANA time zone name, e.g. 'America/New_York'; default: the server's zone" },
        format: { type: "string", enum: ["json", "human", "iso"], description: "json (default): all fields; human: one sentence; iso: ISO 8601 only" },
      },
    },
  },
};
