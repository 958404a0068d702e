/** Polls `check` every 25 ms until it holds. @throws when `timeoutMs` passes first */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await Bun.sleep(25);
  }
}
