import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The undo steps of an operation in progress. A step is pushed right after the side effect
 * it reverses succeeds; on failure `unwind` runs them newest first. An undo step that fails
 * is logged and the rest still run: leaving one thing behind beats leaving everything.
 */
export class UndoStack {
  private steps: { what: string; undo: () => unknown }[] = [];

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** The operation succeeded: its side effects stay. */
  clear(): void {
    this.steps = [];
  }

  async unwind(log?: Logger): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      try {
        await step.undo();
      } catch (err) {
        log?.error('undo step failed', { step: step.what, error: messageOf(err) });
      }
    }
  }
}
