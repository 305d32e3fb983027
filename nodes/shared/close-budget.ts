/**
 * Closing a node within Node-RED's close timeout (settings.nodeCloseTimeout, 15 s by default):
 * Node-RED stops waiting for a node's close after it, so a node that flushes or drains on close
 * keeps a margin inside it.
 */
import type { NodeAPI } from 'node-red';

const NODE_RED_CLOSE_TIMEOUT_MS = 15_000;

/** Node-RED's close timeout less `marginMs`, and never below `atLeastMs`. */
export function closeBudget(RED: NodeAPI, marginMs: number, atLeastMs: number): number {
  const timeout = Number((RED.settings as unknown as { nodeCloseTimeout?: number }).nodeCloseTimeout) || NODE_RED_CLOSE_TIMEOUT_MS;
  return Math.max(atLeastMs, timeout - marginMs);
}

/**
 * Resolves once `wait` calls the resolver it is handed, or after `budgetMs`, whichever comes
 * first; at once when nothing is `pending`.
 */
export function waitWithin(budgetMs: number, pending: boolean, wait: (resolve: () => void) => void): Promise<void> {
  if (!pending) return Promise.resolve();
  return new Promise<void>((resolve) => {
    wait(resolve);
    setTimeout(resolve, budgetMs).unref?.();
  });
}
