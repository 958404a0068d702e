/**
 * Temporary YAML files for config tests: one directory per test file, removed after its tests.
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Makes a temporary directory (removed in afterAll) and a writer of numbered YAML files in it.
 * @param name names the directory and the files (`<name>-1.yaml`, ...)
 * @returns `dir`, and `file(text)` which writes `text` to a fresh file and returns its path
 */
export function yamlFiles(name: string): { dir: string; file: (text: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), `llm-proxy-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return {
    dir,
    file(text: string): string {
      const path = join(dir, `${name}-${++files}.yaml`);
      writeFileSync(path, text);
      return path;
    },
  };
}
