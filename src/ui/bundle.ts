/**
 * Bundles the dashboard (src/ui/web/app.ts and its CSS, uPlot included) into one self-contained HTML
 * page: script and styles inline, no network fetch but the page's own API calls, so it works offline.
 *
 *   bun src/ui/bundle.ts            prints the page to stdout
 *
 * Run by the macro in embed.ts, which inlines the page into the code at bundle time (the executable)
 * or transpile time (`bun run`): Bun.build cannot run inside a macro, hence a child process.
 * @throws (exit 1) with the bundler's messages when the build fails
 */
import { join } from "node:path";

/** The page as HTML text. */
export async function bundlePage(): Promise<string> {
  const result = await Bun.build({ entrypoints: [join(import.meta.dir, "web", "app.ts")], target: "browser", format: "esm", minify: true, throw: false });
  if (!result.success) throw new AggregateError(result.logs, `dashboard bundle failed:\n${result.logs.join("\n")}`);
  let js = "";
  let css = "";
  for (const output of result.outputs) {
    if (output.path.endsWith(".css")) css += await output.text();
    else if (output.kind === "entry-point") js += await output.text();
  }
  const template = await Bun.file(join(import.meta.dir, "web", "page.html")).text();
  // Inline code must not close its own element early.
  const safeJs = js.replaceAll("</script", "<\\/script");
  const safeCss = css.replaceAll("</style", "<\\/style");
  return template.replace("/*STYLE*/", () => safeCss).replace("/*SCRIPT*/", () => safeJs);
}

if (import.meta.main) {
  try {
    process.stdout.write(await bundlePage());
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
