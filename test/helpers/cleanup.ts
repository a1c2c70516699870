/**
 * Teardown that runs even when a test fails: whatever a test or helper registers here is
 * undone after that test (newest first) by the root hook, whatever the outcome.
 */
type Cleanup = { what: string; run: () => unknown };

const pending: Cleanup[] = [];

export function onCleanup(what: string, run: () => unknown): void {
  pending.push({ what, run });
}

export async function runCleanups(): Promise<string[]> {
  const failures: string[] = [];
  while (pending.length > 0) {
    const step = pending.pop()!;
    try {
      await step.run();
    } catch (err) {
      failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failures;
}
