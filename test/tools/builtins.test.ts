import { expect, test } from "bun:test";
import { BuiltinSource } from "../../src/tools/builtins/index.ts";
import { currentTime } from "../../src/tools/builtins/time.ts";
import { toolSourceConformance } from "./conformance.ts";

toolSourceConformance("builtin", {
  make: () => new BuiltinSource(),
  ok: { name: "calculator", args: { expression: "2 + 3 * 4" }, expect: (c) => expect(JSON.parse(c).result).toBe("14") },
  failing: { name: "get_current_time", args: { timezone: "Mars/Olympus_Mons" } },
});

test("get_current_time: ISO 8601 with the zone's offset and a human string, for a fixed instant", () => {
  const at = new Date("2026-07-01T12:00:00Z");
  expect(currentTime("Europe/Berlin", at)).toEqual({ timezone: "Europe/Berlin", iso: "2026-07-01T14:00:00+02:00", human: "Wednesday, 1 July 2026, 14:00:00 CEST", unix: 1782907200 });
  expect(currentTime("UTC", at).iso).toBe("2026-07-01T12:00:00+00:00");
  expect(currentTime("Asia/Kolkata", at).iso).toBe("2026-07-01T17:30:00+05:30");
  expect(currentTime("America/New_York", new Date("2026-01-15T12:00:00Z")).iso).toBe("2026-01-15T07:00:00-05:00");
});

test("get_current_time: formats, and a bad zone is an error result naming the zone", async () => {
  const source = new BuiltinSource();
  const human = await source.call("get_current_time", { timezone: "Europe/Paris", format: "human" }, { timeoutMs: 1000 });
  expect(human.content).toMatch(/^\w+day, \d{1,2} \w+ \d{4}, \d\d:\d\d:\d\d CES?T$/);
  const iso = await source.call("get_current_time", { format: "iso" }, { timeoutMs: 1000 });
  expect(Date.parse(iso.content)).not.toBeNaN();
  const bad = await source.call("get_current_time", { timezone: "Not/AZone" }, { timeoutMs: 1000 });
  expect(bad.isError).toBe(true);
  expect(JSON.parse(bad.content).error).toContain("Not/AZone");
});
