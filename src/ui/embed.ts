/**
 * A Bun macro (imported `with { type: "macro" }` by src/server/ui.ts): returns the dashboard page
 * built by bundle.ts, so the page's text is part of the code, also inside the single executable.
 * @throws when the bundle fails (the build or the transpile then fails, not a request)
 */
export function dashboardPage(): string {
  const built = Bun.spawnSync([process.execPath, `${import.meta.dir}/bundle.ts`], { stdout: "pipe", stderr: "pipe" });
  if (!built.success) throw new Error(`dashboard bundle failed: ${built.stderr.toString()}`);
  return built.stdout.toString();
}
