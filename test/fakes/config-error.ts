import { expect } from "bun:test";
import { ConfigError } from "../../src/config/load.ts";

/** The message of the ConfigError `fn` throws. @throws when it throws none */
export function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}
