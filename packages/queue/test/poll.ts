/**
 * The one poll of the tests (this package's and, through `packages/queue/dist/test/poll.js`, the packages and
 * root tests above it): checks `condition` every `everyMs` until it holds; past `ms` it throws, naming `what`.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 60_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
