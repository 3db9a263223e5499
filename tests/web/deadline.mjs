// Polling with a deadline: the test's only way to wait. A condition that never holds fails the
// test with what was awaited.
export class Timeout extends Error {}

export async function until(what, timeoutMs, condition, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A condition that throws (a process died) fails at once.
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Timeout(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
